//! --container and --ppid against real container runtimes (docker, podman,
//! containerd's ctr, runc, crun from Debian's archive; see
//! tests/support/containers.rs): a client in a container on the host
//! network connects once to a port this test listens on, and the line
//! must name its container. The expected values come from the runtime and
//! /proc (the harness finds the client by its socket), never from the tool.

mod support;

use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};
use support::containers::{
    assert_json, container_line, n, parent_of, s, socket_owner, start_container_tracers, ClientRun, Harness,
    Runtime,
};
use support::{have_root, Tool};

const PPID_HEADER: &str =
    "PID    PPID   PCOMM        COMM         IP SADDR            DADDR            DPORT";

/// "%-6d %-6d %-12.12s %-12.12s %-2d %-16s %-16s %-4d", without trailing spaces.
fn ppid_line(pid: u32, ppid: u32, pcomm: &str, comm: &str, dport: u16) -> String {
    let line = format!(
        "{pid:<6} {ppid:<6} {pcomm:<12.12} {comm:<12.12} {:<2} {:<16} {:<16} {dport:<4}",
        4, "127.0.0.1", "127.0.0.1"
    );
    line.trim_end().to_owned()
}

/// The first line a tracer prints (within support::LINE_TIMEOUT).
fn first_line(tool: &mut Tool) -> Vec<String> {
    tool.lines_matching(1, |_| true)
}

/// `first`, which must be one line, and nothing after it (-P keeps only
/// connects to our port).
fn only_line(tool: &mut Tool, mut first: Vec<String>, what: &str) -> String {
    first.extend(tool.lines_until_quiet(Duration::from_millis(300)));
    assert_eq!(first.len(), 1, "{what}: {first:?}");
    first.remove(0)
}

fn stop(tool: Tool) {
    let (status, rest, stderr) = tool.stop(libc::SIGINT);
    assert!(status.success(), "{status}: {stderr}");
    assert!(rest.is_empty(), "lines after the client's: {rest:?}");
}

/// Starts `tcpconnect --container -P PORT` and its -j twin, runs the
/// client in a container of `runtime`, and checks both lines.
fn container_is_named(runtime: Runtime) {
    let test = format!("{}_connect_names_its_container", runtime.name());
    if !have_root(&test) {
        return;
    }
    let mut harness = match Harness::start(runtime) {
        Ok(harness) => harness,
        Err(why) => {
            eprintln!("skipping {test}: {why}");
            return;
        }
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (mut text, mut json) = start_container_tracers(port);
    // The lines are read while the container runs: tcpconnect names a
    // container from the files its runtime keeps while it exists (a
    // `--rm` container that exits before its line is printed may keep
    // only its id: src/container/mod.rs).
    let (mut text_first, mut json_first) = (Vec::new(), Vec::new());
    let connected = |_pid| {
        let started = Instant::now();
        text_first = first_line(&mut text);
        json_first = first_line(&mut json);
        eprintln!("{test}: both lines within {:?} of the accept", started.elapsed());
    };
    let client: ClientRun = match harness.run_client(&listener, &runtime.container_name(), connected) {
        Ok(client) => client,
        Err(why) => {
            eprintln!("skipping {test}: {} cannot run a container on this host: {why}", runtime.name());
            return;
        }
    };
    eprintln!("{test}: {client:#?}");
    // busybox runs as the nc applet's link: its task name is the link's.
    assert_eq!(client.comm, "nc");
    assert_eq!(
        only_line(&mut text, text_first, "--container"),
        container_line(client.pid, "nc", &client.name, port)
    );
    let line = only_line(&mut json, json_first, "-j --container");
    let mut expected = vec![
        ("uid", n(0)),
        ("pid", n(client.pid)),
        ("comm", s("nc")),
        ("cgroup", s(client.unified_cgroup())),
        ("container_id", s(&client.id)),
    ];
    // Only docker and podman keep a name (src/present/json.rs: "where the
    // runtime keeps one"); ctr, runc and crun know their containers by id.
    if matches!(runtime, Runtime::Docker | Runtime::Podman) {
        expected.push(("container_name", s(&client.name)));
    }
    expected.extend([("ip", n(4)), ("saddr", s("127.0.0.1")), ("daddr", s("127.0.0.1")), ("dport", n(port))]);
    assert_json(&line, &expected, client.lport);
    stop(text);
    stop(json);
}

#[test]
fn docker_connect_names_its_container() {
    container_is_named(Runtime::Docker);
}

#[test]
fn podman_connect_names_its_container() {
    container_is_named(Runtime::Podman);
}

#[test]
fn ctr_connect_names_its_container() {
    container_is_named(Runtime::Ctr);
}

#[test]
fn runc_connect_names_its_container() {
    container_is_named(Runtime::Runc);
}

#[test]
fn crun_connect_names_its_container() {
    container_is_named(Runtime::Crun);
}

/// A client that connects and exits at once, its `--rm` container removed
/// right after: the line must still name the container (tcpconnect drains
/// every 10 ms with --container, before the runtime's files are gone; its
/// cgroup's last two elements name it even after). The PID is the
/// container's, gone when the test looks: every other column is exact.
fn exiting_client_is_named(runtime: Runtime) {
    let test = format!("{}_client_that_exits_at_once_is_named", runtime.name());
    if !have_root(&test) {
        return;
    }
    let mut harness = match Harness::start(runtime) {
        Ok(harness) => harness,
        Err(why) => return eprintln!("skipping {test}: {why}"),
    };
    // A port nothing listens on: the connect is refused, and traced.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (mut text, mut json) = start_container_tracers(port);
    let name = format!("{}-quick", runtime.container_name());
    let id = harness.run_exiting_client(port, &name);
    let first = first_line(&mut text);
    let line = only_line(&mut text, first, "--container");
    let pid: u32 = line.split(' ').next().unwrap().parse().unwrap_or_else(|_| panic!("{line}"));
    assert_eq!(line, container_line(pid, "nc", &name, port));
    let first = first_line(&mut json);
    let line = only_line(&mut json, first, "-j --container");
    assert!(
        line.contains(",\"comm\":\"nc\",")
            && line.contains(&format!(",\"container_id\":\"{id}\",\"container_name\":\"{name}\",")),
        "{line}"
    );
    stop(text);
    stop(json);
}

#[test]
fn docker_client_that_exits_at_once_is_named() {
    exiting_client_is_named(Runtime::Docker);
}

#[test]
fn podman_client_that_exits_at_once_is_named() {
    exiting_client_is_named(Runtime::Podman);
}

/// Accepts one connect within 10 s.
fn accept(listener: &TcpListener) -> (TcpStream, u16) {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                stream.set_nonblocking(false).unwrap();
                return (stream, peer.port());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("no connect to 127.0.0.1:{}: {e}", listener.local_addr().unwrap().port()),
        }
    }
}

#[test]
fn ppid_columns_name_the_shell_that_ran_the_client() {
    if !have_root("ppid_columns_name_the_shell_that_ran_the_client") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let port_arg = port.to_string();
    let mut text = Tool::start(&["--ppid", "-P", &port_arg]);
    assert_eq!(text.header, PPID_HEADER);
    let mut json = Tool::start_headerless(&["-j", "--ppid", "-P", &port_arg]);
    // `; true`: the shell forks the client rather than exec'ing it.
    let mut shell = Command::new("/bin/sh")
        .args(["-c", &format!("/bin/busybox nc -w 30 127.0.0.1 {port} </dev/null; true")])
        .spawn()
        .expect("spawn /bin/sh");
    let (stream, lport) = accept(&listener);
    let client = socket_owner(lport, port);
    assert_eq!(parent_of(client), shell.id(), "the client's parent is not the shell");
    // Read while the client and its shell run (--ppid reads the parent then).
    let text_first = first_line(&mut text);
    let json_first = first_line(&mut json);
    drop(stream);
    let status = shell.wait().unwrap();
    assert!(status.success(), "the shell failed: {status}");
    // Debian's /bin/sh is dash, whose task name is its link's: sh.
    assert_eq!(
        only_line(&mut text, text_first, "--ppid"),
        ppid_line(client, shell.id(), "sh", "busybox", port)
    );
    let line = only_line(&mut json, json_first, "-j --ppid");
    assert_json(
        &line,
        &[
            ("uid", n(0)),
            ("pid", n(client)),
            ("ppid", n(shell.id())),
            ("pcomm", s("sh")),
            ("comm", s("busybox")),
            ("ip", n(4)),
            ("saddr", s("127.0.0.1")),
            ("daddr", s("127.0.0.1")),
            ("dport", n(port)),
        ],
        lport,
    );
    stop(text);
    stop(json);
}

/// The harness alone, without the tracer: each runtime runs its client
/// here, and the facts the tests expect are printed (run by hand:
/// `cargo test --test containers -- --ignored --nocapture`).
#[test]
#[ignore = "prints what each runtime gives its client; the tests above check it"]
fn runtimes_run_their_clients() {
    if !have_root("runtimes_run_their_clients") {
        return;
    }
    for runtime in Runtime::ALL {
        let started = Instant::now();
        let mut harness = match Harness::start(runtime) {
            Ok(harness) => harness,
            Err(why) => {
                eprintln!("{}: skipped: {why}", runtime.name());
                continue;
            }
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        match harness.run_client(&listener, &runtime.container_name(), |_| {}) {
            Ok(client) => {
                assert_eq!(client.comm, "nc");
                eprintln!(
                    "{}: name {} id {} pid {} lport {} cgroup (v2, host view) {}\ninside /proc/self/cgroup:\n{}host /proc/{}/cgroup:\n{}",
                    runtime.name(),
                    client.name,
                    client.id,
                    client.pid,
                    client.lport,
                    client.unified_cgroup(),
                    client.cgroup_inside,
                    client.pid,
                    client.cgroup_host
                );
            }
            Err(why) => eprintln!("{}: cannot run here: {why}", runtime.name()),
        }
        drop(harness);
        eprintln!("{}: {:?} with setup and cleanup", runtime.name(), started.elapsed());
    }
}
