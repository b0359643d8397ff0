//! A hostile environment on this kernel: no way in, tracefs missing without
//! the privilege to mount it, damaged BTF, an output that fails mid-run.
//! Each must end in one clear line and exit status 1. (The VM tests cover
//! the kprobe side: read-only tracefs, a probe name already taken.) And a
//! process whose name is made to forge what we print (issue 27): it must
//! come out escaped, in text and in JSON.

mod support;

use std::process::{Command, Output};
use support::{have_root, tcpconnect_bin, transport_line};

const PRIVATE_MOUNTS: [&str; 3] = ["--mount", "--propagation", "private"];

/// Runs `setup` in a private mount namespace, then the tool with `args`.
fn run_in_private_mounts(setup: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new("unshare")
        .args(PRIVATE_MOUNTS)
        .args(["sh", "-c", &format!("{setup} && exec \"$0\" \"$@\"")])
        .arg(tcpconnect_bin())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn one_error_line(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "stdout: {}", String::from_utf8_lossy(&out.stdout));
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

/// Unmount every tracefs the namespace can see.
const UNMOUNT_TRACEFS: &str =
    "for m in $(grep ' - tracefs ' /proc/self/mountinfo | cut -d' ' -f5); do umount -l \"$m\"; done";

#[test]
fn neither_tracepoint_nor_kprobes_names_both() {
    if !have_root("neither_tracepoint_nor_kprobes_names_both") {
        return;
    }
    if std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        eprintln!("skipping: this kernel has kprobes");
        return;
    }
    // A tracefs stand-in with an events tree but no sock tracepoint.
    let setup = format!(
        "{UNMOUNT_TRACEFS}; mount -t tmpfs none /sys/kernel/tracing && mkdir /sys/kernel/tracing/events"
    );
    let out = run_in_private_mounts(&setup, &[], &[]);
    assert_eq!(
        one_error_line(&out),
        "tcpconnect: no way to trace connects on this kernel: this kernel has no tracepoint \
         sock:inet_sock_set_state (upstream Linux added it in 4.16), and kprobes are unusable: this kernel has no kprobe \
         support (no /sys/bus/event_source/devices/kprobe and no tracefs kprobe_events; CONFIG_KPROBES or \
         CONFIG_KPROBE_EVENTS is off)\n"
    );
}

/// Mounts a tracefs of the namespace's own at /sys/kernel/tracing and puts a
/// copy of the state tracepoint's format without its `protocol` line over
/// the real one: the perf tracepoint path then cannot be prepared.
fn format_without_protocol(dir: &std::path::Path) -> String {
    let format = "/sys/kernel/tracing/events/sock/inet_sock_set_state/format";
    let copy = dir.join("format");
    format!(
        "{UNMOUNT_TRACEFS}; mount -t tracefs tracefs /sys/kernel/tracing && grep -v ' protocol;' {format} > {copy} \
         && mount --bind {copy} {format}",
        copy = copy.display()
    )
}

#[test]
fn a_tracepoint_path_that_cannot_be_prepared_is_named_with_the_kprobe_cause() {
    if !have_root("a_tracepoint_path_that_cannot_be_prepared_is_named_with_the_kprobe_cause") {
        return;
    }
    if std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        eprintln!("skipping: this kernel has kprobes (the VM test covers the fallback that works)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tcpconnect-fmt-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    let setup = format_without_protocol(&dir);
    let perf = [("TCPCONNECT_RAW_TRACEPOINT", "off")];
    let missing =
        "tracepoint sock:inet_sock_set_state has no field \"protocol\" on this kernel; cannot trace \
                   through it";
    let no_kprobes =
        "this kernel has no kprobe support (no /sys/bus/event_source/devices/kprobe and no tracefs \
                      kprobe_events; CONFIG_KPROBES or CONFIG_KPROBE_EVENTS is off)";
    // auto tries kprobes, says so with -v, and names both causes.
    let auto = run_in_private_mounts(&setup, &["-v"], &perf);
    let forced = run_in_private_mounts(&setup, &["--attach", "tracepoint"], &perf);
    let quiet = run_in_private_mounts(&setup, &[], &perf);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(auto.status.code(), Some(1));
    assert!(auto.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&auto.stderr),
        format!(
            "{}tcpconnect: raw tracepoint unavailable (disabled by TCPCONNECT_RAW_TRACEPOINT=off); using the perf \
             tracepoint event\n\
             tcpconnect: tracepoint path failed ({missing}); trying kprobes\n\
             tcpconnect: no way to trace connects on this kernel: {missing}, and kprobes are unusable: {no_kprobes}\n",
            transport_line()
        )
    );
    assert_eq!(
        one_error_line(&quiet),
        format!("tcpconnect: no way to trace connects on this kernel: {missing}, and kprobes are unusable: {no_kprobes}\n")
    );
    // A forced tracepoint run fails with its own cause alone.
    assert_eq!(one_error_line(&forced), format!("tcpconnect: {missing}\n"));
}

#[test]
fn missing_tracefs_without_cap_sys_admin_says_what_is_needed() {
    if !have_root("missing_tracefs_without_cap_sys_admin_says_what_is_needed") {
        return;
    }
    let setup =
        format!("{UNMOUNT_TRACEFS}; exec setpriv --bounding-set=-all,+bpf,+perfmon -- \"$0\" \"$@\"; :");
    let out = run_in_private_mounts(&setup, &[], &[]);
    assert_eq!(
        one_error_line(&out),
        "tcpconnect: needs root (or CAP_BPF and CAP_PERFMON, plus CAP_SYS_ADMIN where the kernel lacks them, as upstream did before 5.8): tracefs is \
         not mounted and mounting it needs CAP_SYS_ADMIN (unshare(CLONE_NEWNS): Operation not permitted (os error 1))\n"
    );
}

#[test]
fn truncated_btf_is_named_when_it_is_needed() {
    if !have_root("truncated_btf_is_named_when_it_is_needed") {
        return;
    }
    let Ok(btf) = std::fs::read("/sys/kernel/btf/vmlinux") else {
        eprintln!("skipping: no /sys/kernel/btf/vmlinux");
        return;
    };
    let truncated = std::env::temp_dir().join(format!("tcpconnect-btf-{}", std::process::id()));
    std::fs::write(&truncated, &btf[..btf.len() / 2]).unwrap();
    let setup = "mount -t bpf bpf /sys/fs/bpf && bpftool map create /sys/fs/bpf/m type hash key 8 value 8 \
                 entries 4 name m";
    let path = truncated.display().to_string();
    let out = run_in_private_mounts(setup, &["--mntnsmap", "/sys/fs/bpf/m"], &[("TCPCONNECT_BTF", &path)]);
    std::fs::remove_file(&truncated).unwrap();
    let line = one_error_line(&out);
    assert!(
        line.starts_with("tcpconnect: --mntnsmap needs the kernel's BTF type information to find the mount namespace of a task: /sys/kernel/btf/vmlinux: truncated"),
        "{line}"
    );
    assert!(line.ends_with(&format!("(read from {path})\n")), "{line}");
}

#[test]
fn an_output_error_mid_run_ends_with_one_line() {
    if !have_root("an_output_error_mid_run_ends_with_one_line") {
        return;
    }
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = Command::new(tcpconnect_bin()).stdout(full).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "tcpconnect: cannot write output: No space left on device (os error 28)\n"
    );
}

#[test]
fn another_user_needs_cap_dac_read_search_for_tracefs() {
    if !have_root("another_user_needs_cap_dac_read_search_for_tracefs") {
        return;
    }
    let as_nobody = |caps: &str| {
        format!(
            "mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; exec setpriv --reuid=65534 --regid=65534 \
             --clear-groups --inh-caps=+{caps} --ambient-caps=+{caps} -- \"$0\" \"$@\"; :"
        )
    };
    let out = run_in_private_mounts(&as_nobody("bpf,+perfmon"), &[], &[]);
    assert_eq!(
        one_error_line(&out),
        "tcpconnect: needs root (or CAP_BPF and CAP_PERFMON, plus CAP_SYS_ADMIN where the kernel lacks them, as upstream did before 5.8): cannot read \
         /sys/kernel/tracing/events: Permission denied (os error 13) (tracefs is root's: another user needs \
         CAP_DAC_READ_SEARCH)\n"
    );
    // With CAP_DAC_READ_SEARCH it traces (-c: the banner, then SIGINT).
    let mut child = Command::new("unshare")
        .args(PRIVATE_MOUNTS)
        .args(["sh", "-c", &format!("{} && exec \"$0\" \"$@\"", as_nobody("bpf,+perfmon,+dac_read_search"))])
        .arg(tcpconnect_bin())
        .arg("-c")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.as_mut().unwrap()), &mut banner)
        .unwrap();
    support::send_signal(child.id(), libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(banner, "Tracing connect ... Hit Ctrl-C to end\n", "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_quoted_path_cannot_forge_lines_or_colour_stderr() {
    let out =
        Command::new(tcpconnect_bin()).args(["--cgroupmap", "/tmp/no\nsuch\x1b[31m\\map"]).output().unwrap();
    assert_eq!(
        one_error_line(&out),
        "tcpconnect: --cgroupmap /tmp/no\\010such\\027[31m\\\\map: no such file\n"
    );
}

/// One connect to 127.0.0.1 by a process that named itself `name` (the
/// connector's prctl(PR_SET_NAME), which any process may call), traced at
/// once by a plain tool and by `-j -L`: each tool's line, raw, and the
/// connect's pid, port and local port.
struct NamedConnect {
    pid: u32,
    port: u16,
    lport: u16,
    text: Vec<u8>,
    json: Vec<u8>,
}

fn trace_a_connect_named(name: &[u8]) -> NamedConnect {
    let ports = support::Ports::new();
    let hex: String = name.iter().map(|b| format!("{b:02x}")).collect();
    let target = format!("4:127.0.0.1:{}", ports.v4_port);
    let connector = support::Connector::spawn(&["--lport".to_string(), "--comm".to_string(), hex, target]);
    let pid = connector.pid();
    let mut text = support::Tool::start(&["-p", &pid.to_string()]);
    let mut json = support::Tool::start_headerless(&["-j", "-L", "-p", &pid.to_string()]);
    let outcomes = connector.go();
    let lport = outcomes[0].strip_prefix("ok ").and_then(|p| p.parse().ok());
    let lport = lport.unwrap_or_else(|| panic!("connector: {outcomes:?}"));
    let lines = [&mut text, &mut json].map(|tool| tool.raw_lines_matching(1, |_| true));
    for tool in [text, json] {
        let (status, _, stderr) = tool.stop(libc::SIGINT);
        assert!(status.success(), "{stderr}");
    }
    for line in &lines {
        assert_eq!(line.len(), 1, "one line each: {lines:?}");
        eprintln!("{}", line[0].escape_ascii());
    }
    let [text, json] = lines.map(|mut line| line.remove(0));
    NamedConnect { pid, port: ports.v4_port, lport, text, json }
}

/// The `comm` of a -j line as Python's json module parses it, turned back
/// into bytes with surrogateescape, as the man page tells users to.
fn comm_as_python_reads_it(line: &[u8]) -> Vec<u8> {
    let mut python = Command::new("python3")
        .args([
            "-c",
            "import json, sys; c = json.loads(sys.stdin.buffer.read())['comm']; \
             sys.stdout.buffer.write(c.encode('utf-8', 'surrogateescape'))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (tools/test installs it)");
    std::io::Write::write_all(python.stdin.as_mut().unwrap(), line).unwrap();
    drop(python.stdin.take());
    let out = python.wait_with_output().unwrap();
    assert!(out.status.success(), "python3 could not parse {}", line.escape_ascii());
    out.stdout
}

/// The exact lines of a connect by a process named `name`, whose COMM text
/// mode shows as `text_comm` and -j as `json_comm` (between the quotes).
fn check_named_connect(name: &[u8], text_comm: &str, json_comm: &str) {
    let NamedConnect { pid, port, lport, text, json } = trace_a_connect_named(name);
    let text = String::from_utf8(text).unwrap_or_else(|e| panic!("text line not UTF-8: {e}"));
    assert_eq!(text, format!("{pid:<6} {text_comm} 4  {:<16} {:<16} {port:<4}", "127.0.0.1", "127.0.0.1"));
    let json = String::from_utf8(json).unwrap_or_else(|e| panic!("-j line not UTF-8: {e}"));
    assert_eq!(
        json,
        format!(
            r#"{{"uid":0,"pid":{pid},"comm":"{json_comm}","ip":4,"saddr":"127.0.0.1","lport":{lport},"daddr":"127.0.0.1","dport":{port}}}"#
        )
    );
    // Lossless: a JSON parser gives back the name the process set.
    assert_eq!(comm_as_python_reads_it(json.as_bytes()), name);
}

#[test]
fn del_and_c1_controls_in_a_process_name_are_escaped_in_text_and_json() {
    if !have_root("del_and_c1_controls_in_a_process_name_are_escaped_in_text_and_json") {
        return;
    }
    // DEL, then U+009B (CSI to a terminal that obeys C1 controls in UTF-8).
    check_named_connect(b"a\x7fb\xc2\x9bc", r"a\127b\194\155c", r"a\u007fb\u009bc");
}

#[test]
fn bidi_controls_and_line_separators_in_a_process_name_are_escaped_in_text_and_json() {
    if !have_root("bidi_controls_and_line_separators_in_a_process_name_are_escaped_in_text_and_json") {
        return;
    }
    // U+202E RIGHT-TO-LEFT OVERRIDE (the rest of the line shown reversed)
    // and U+2028 LINE SEPARATOR (a line break to some viewers).
    check_named_connect(
        "a\u{202e}bc\u{2028}d".as_bytes(),
        r"a\226\128\174bc\226\128\168d",
        r"a\u202ebc\u2028d",
    );
}
