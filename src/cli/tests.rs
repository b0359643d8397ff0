//! The command line against argparse's own behaviour, byte for byte.

use super::help::*;
use super::parser::*;
use super::python::*;
use super::table::*;
use super::values::*;
use super::*;

const HELP: &str = "\
usage: tcpconnect [-h] [-t] [-p PID] [-P PORT] [-4 | -6] [-L] [-U] [-u UID]
                  [-c] [--cgroupmap CGROUPMAP] [--mntnsmap MNTNSMAP] [-d]
                  [--result] [--failed] [--ppid] [--container]
                  [--attach {auto,kprobe,tracepoint}] [--ring-size KIB] [-j]
                  [-v] [--version]

Trace TCP connects

optional arguments:
  -h, --help            show this help message and exit
  -t, --timestamp       include timestamp on output
  -p PID, --pid PID     trace this PID only
  -P PORT, --port PORT  comma-separated list of destination ports to trace.
  -4, --ipv4            trace IPv4 family only
  -6, --ipv6            trace IPv6 family only
  -L, --lport           include LPORT on output
  -U, --print-uid       include UID on output
  -u UID, --uid UID     trace this UID only
  -c, --count           count connects per src ip and dest ip/port
  --cgroupmap CGROUPMAP
                        trace cgroups in this BPF map only
  --mntnsmap MNTNSMAP   trace mount namespaces in this BPF map only
  -d, --dns             include likely DNS query associated with each connect
  --result              print each connect when its handshake ends, with
                        RESULT (OK, the error such as ECONNREFUSED, or CLOSED)
                        and LAT(ms)
  --failed              print only connects that did not succeed (implies
                        --result)
  --ppid                include PPID and PCOMM, the parent process, on output
  --container           include CONTAINER on output: the container's name
                        (else its ID), or the cgroup's name outside containers
  --attach {auto,kprobe,tracepoint}
                        how to hook into the kernel: the
                        sock:inet_sock_set_state tracepoint where it exists
                        (Linux 4.16+), kprobes otherwise (auto, the default),
                        or force one
  --ring-size KIB       size of the BPF ring buffer events go through (Linux
                        5.8+), in KiB, a power of two (default 256)
  -j, --json            print one JSON object per line per event (per row with
                        -c)
  -v, --verbose         say on stderr how tracing was set up
  --version             show program's version number and exit

examples:
    ./tcpconnect           # trace all TCP connect()s
    ./tcpconnect -t        # include timestamps
    ./tcpconnect -d        # include DNS queries associated with connects
    ./tcpconnect -p 181    # only trace PID 181
    ./tcpconnect -P 80     # only trace port 80
    ./tcpconnect -P 80,81  # only trace port 80 and 81
    ./tcpconnect -4        # only trace IPv4 family
    ./tcpconnect -6        # only trace IPv6 family
    ./tcpconnect -U        # include UID
    ./tcpconnect -u 1000   # only trace UID 1000
    ./tcpconnect -c        # count connects per src ip and dest ip/port
    ./tcpconnect -L        # include LPORT while printing outputs
    ./tcpconnect --cgroupmap mappath  # only trace cgroups in this BPF map
    ./tcpconnect --mntnsmap mappath   # only trace mount namespaces in the map
";

fn run(args: &[&str]) -> Result<Options, CliExit> {
    parse(std::iter::once("tcpconnect").chain(args.iter().copied()))
}

fn ok(args: &[&str]) -> Options {
    match run(args) {
        Ok(options) => options,
        Err(exit) => panic!("{args:?}: expected success, got {exit:?}"),
    }
}

/// The complete stderr text for `message`.
fn usage(message: &str) -> CliExit {
    CliExit::Usage(format!("{USAGE}\ntcpconnect: error: {message}\n"))
}

fn err(args: &[&str], message: &str) {
    assert_eq!(run(args), Err(usage(message)), "args: {args:?}");
}

fn help(args: &[&str]) {
    assert_eq!(run(args), Err(CliExit::Help(HELP.to_string())), "args: {args:?}");
}

fn pid(n: u32) -> Options {
    Options { pid: Some(n), ..Options::default() }
}

fn uid(n: u32) -> Options {
    Options { uid: Some(n), ..Options::default() }
}

fn ports(list: &[u16]) -> Options {
    Options { ports: list.to_vec(), ..Options::default() }
}

const TU: Options = Options {
    timestamp: true,
    print_uid: true,
    pid: None,
    uid: None,
    ports: Vec::new(),
    family: None,
    lport: false,
    count: false,
    cgroupmap: None,
    mntnsmap: None,
    dns: false,
    result: false,
    failed: false,
    ppid: false,
    container: false,
    json: false,
    attach: AttachMode::Auto,
    verbose: false,
    ring_size_kib: None,
};

// --- help and usage text ---------------------------------------------

#[test]
fn help_text_is_bccs() {
    assert_eq!(format_help(PROG, OPTIONS), HELP);
    help(&["-h"]);
    help(&["--help"]);
}

#[test]
fn usage_const_matches_table() {
    assert_eq!(format_usage(PROG, OPTIONS), USAGE);
    assert!(HELP.starts_with(&format!("{USAGE}\n\n")));
}

#[test]
fn usage_error_layout() {
    assert_eq!(
        run(&["--foo"]),
        Err(CliExit::Usage(format!("{USAGE}\ntcpconnect: error: unrecognized arguments: --foo\n")))
    );
    assert!(
        USAGE.starts_with("usage: tcpconnect [-h] [-t] [-p PID] [-P PORT] [-4 | -6] [-L] [-U] [-u UID]\n")
    );
}

#[test]
fn layout_rules_match_argparse_for_a_bigger_table() {
    const fn flag(flags: &'static [&'static str], help: &'static str) -> OptSpec {
        OptSpec { flags, action: Action::SetTrue(|_| {}), help }
    }
    const fn store(flags: &'static [&'static str], metavar: &'static str, help: &'static str) -> OptSpec {
        OptSpec { flags, action: Action::Store { metavar, store: |_, _| Ok(()) }, help }
    }
    let specs = [
        OptSpec { flags: &["-h", "--help"], action: Action::Help, help: "show this help message and exit" },
        flag(&["-t", "--timestamp"], "include timestamp on output"),
        store(&["-p", "--pid"], "PID", "trace this PID only"),
        store(&["-P", "--port"], "PORT", "comma-separated list of destination ports to trace."),
        flag(&["-L", "--lport"], "include LPORT on output"),
        flag(&["-U", "--print-uid"], "include UID on output"),
        store(&["-u", "--uid"], "UID", "trace this UID only"),
        flag(&["-c", "--count"], "count connects per src ip and dest ip/port"),
        store(&["--cgroupmap"], "CGROUPMAP", "trace cgroups in this BPF map only"),
        store(&["--mntnsmap"], "MNTNSMAP", "trace mount namespaces in this BPF map only"),
        flag(&["-d", "--dns"], "include likely DNS query associated with each connect"),
    ];
    let expected = "\
usage: tcpconnect.py [-h] [-t] [-p PID] [-P PORT] [-L] [-U] [-u UID] [-c]
                     [--cgroupmap CGROUPMAP] [--mntnsmap MNTNSMAP] [-d]

Trace TCP connects

optional arguments:
  -h, --help            show this help message and exit
  -t, --timestamp       include timestamp on output
  -p PID, --pid PID     trace this PID only
  -P PORT, --port PORT  comma-separated list of destination ports to trace.
  -L, --lport           include LPORT on output
  -U, --print-uid       include UID on output
  -u UID, --uid UID     trace this UID only
  -c, --count           count connects per src ip and dest ip/port
  --cgroupmap CGROUPMAP
                        trace cgroups in this BPF map only
  --mntnsmap MNTNSMAP   trace mount namespaces in this BPF map only
  -d, --dns             include likely DNS query associated with each connect

";
    assert_eq!(format_help("tcpconnect.py", &specs), format!("{expected}{EPILOG}"));
}

/// argparse moves help text left when every invocation is short, and wraps
/// long help text (compared with Python 3.8's output).
#[test]
fn layout_short_column_and_wrapped_help() {
    let specs = [
            OptSpec { flags: &["-h"], action: Action::Help, help: "show this help message and exit" },
            OptSpec {
                flags: &["-x"],
                action: Action::SetTrue(|_| {}),
                help: "a very long help text that needs to be wrapped because it goes past the right margin of the terminal",
            },
        ];
    let expected = "\
usage: tcpconnect [-h] [-x]

Trace TCP connects

optional arguments:
  -h  show this help message and exit
  -x  a very long help text that needs to be wrapped because it goes past the
      right margin of the terminal

";
    assert_eq!(format_help(PROG, &specs), format!("{expected}{EPILOG}"));
}

// --- happy paths -----------------------------------------------------

#[test]
fn no_arguments_means_defaults() {
    assert_eq!(ok(&[]), Options::default());
}

#[test]
fn flags_in_every_spelling() {
    let t = Options { timestamp: true, ..Options::default() };
    let u = Options { print_uid: true, ..Options::default() };
    for args in [&["-t"][..], &["--timestamp"], &["--time"], &["--t"], &["-t", "-t"]] {
        assert_eq!(ok(args), t, "{args:?}");
    }
    for args in [&["-U"][..], &["--print-uid"], &["--print"], &["--pr"], &["-UU"]] {
        assert_eq!(ok(args), u, "{args:?}");
    }
    for args in [&["-tU"][..], &["-Ut"], &["-t", "-U"], &["--ti", "--pri"], &["-tUt"]] {
        assert_eq!(ok(args), TU, "{args:?}");
    }
}

#[test]
fn pid_in_every_spelling() {
    for args in [
        &["-p", "181"][..],
        &["-p181"],
        &["--pid", "181"],
        &["--pid=181"],
        &["--pi", "181"],
        &["--pi=181"],
        &["-p=181"], // argparse splits "-p=181" at the '='
        &["-p", "1", "-p", "181"],
    ] {
        assert_eq!(ok(args), pid(181), "{args:?}");
    }
    let tu181 = Options { pid: Some(181), ..TU };
    for args in [&["-tUp181"][..], &["-tUp", "181"], &["-Up", "181", "-t"], &["-tU", "--pid=181"]] {
        assert_eq!(ok(args), tu181, "{args:?}");
    }
}

#[test]
fn pid_accepts_what_python_int_accepts() {
    for text in [" 42 ", "+42", "042", "4_2", "\t42\n", "\u{3000}42"] {
        assert_eq!(ok(&["-p", text]), pid(42), "{text:?}");
    }
    assert_eq!(ok(&["-p", "1"]), pid(1));
    assert_eq!(ok(&["-p", "4194304"]), pid(PID_MAX_LIMIT));
}

#[test]
fn uid_in_every_spelling() {
    for args in [&["-u", "1000"][..], &["-u1000"], &["--uid", "1000"], &["--uid=1000"], &["--ui=1000"]] {
        assert_eq!(ok(args), uid(1000), "{args:?}");
    }
    assert_eq!(ok(&["-u", "0"]), uid(0));
    assert_eq!(ok(&["-u-0"]), uid(0));
    assert_eq!(ok(&["-u", "4294967294"]), uid(4_294_967_294));
}

#[test]
fn ports_in_every_spelling() {
    for args in [
        &["-P", "80,81"][..],
        &["-P80,81"],
        &["--port", "80,81"],
        &["--port=80,81"],
        &["--po=80,81"],
        &["-P", "80, 81"],
        &["-P", " 80 ,81 "],
        &["-P", "80,81,80,81"],
        &["-P", "22", "-P", "80,81"],
    ] {
        assert_eq!(ok(args), ports(&[80, 81]), "{args:?}");
    }
    assert_eq!(ok(&["-P", "443,80,443"]), ports(&[443, 80]));
    assert_eq!(ok(&["-P", "1,65535"]), ports(&[1, 65535]));
}

#[test]
fn everything_together() {
    let all = Options {
        timestamp: true,
        print_uid: true,
        pid: Some(7),
        uid: Some(0),
        ports: vec![80, 443],
        ..Options::default()
    };
    assert_eq!(ok(&["-t", "-p", "7", "-P", "80,443", "-U", "-u", "0"]), all);
    assert_eq!(ok(&["-tUu0", "--port=80,443", "--pid", "7"]), all);
}

#[test]
fn bccs_newer_options() {
    // Each expectation checked against Python 3.11 argparse with bcc's table.
    let o = ok(&["-4", "-L", "-c", "--cgroupmap", "/sys/fs/bpf/cg", "--mntnsmap=/m", "-j"]);
    assert_eq!(o.family, Some(4));
    assert!(o.lport && o.count && o.json && !o.dns);
    assert_eq!(o.cgroupmap, Some(PathBuf::from("/sys/fs/bpf/cg")));
    assert_eq!(o.mntnsmap, Some(PathBuf::from("/m")));
    assert_eq!(ok(&["-6d"]).family, Some(6));
    assert!(ok(&["--dns"]).dns);
    assert_eq!(ok(&["-4", "-4"]).family, Some(4));
    err(&["-4", "-6"], "argument -6/--ipv6: not allowed with argument -4/--ipv4");
    err(&["-6", "-4"], "argument -4/--ipv4: not allowed with argument -6/--ipv6");
    err(&["-46"], "argument -6/--ipv6: not allowed with argument -4/--ipv4");
    err(&["--ipv6", "--ipv4"], "argument -4/--ipv4: not allowed with argument -6/--ipv6");
    err(&["-u", "-1"], "argument -u/--uid: expected one argument");
    err(&["-p", "-5"], "argument -p/--pid: expected one argument");
    err(&["-5"], "unrecognized arguments: -5");
    err(&["-c", "-d"], "argument -d/--dns: not allowed with argument -c/--count");
    err(&["-c", "--result"], "argument --result: not allowed with argument -c/--count");
    err(&["--failed", "-c"], "argument --failed: not allowed with argument -c/--count");
    let failed = ok(&["--failed", "-L"]);
    assert!(failed.failed && !failed.result && failed.lport);
    assert!(ok(&["--res"]).result, "abbreviated as argparse allows");
    err(&["--cgroupmap"], "argument --cgroupmap: expected one argument");
}

#[test]
fn attach_and_verbose() {
    let kprobe = Options { attach: AttachMode::Kprobe, verbose: true, ..Options::default() };
    assert_eq!(ok(&["--attach", "kprobe", "-v"]), kprobe);
    assert_eq!(ok(&["--at=kprobe", "--verb"]), kprobe);
    assert_eq!(ok(&["--attach=tracepoint"]).attach, AttachMode::Tracepoint);
    assert_eq!(ok(&["--attach", "auto"]).attach, AttachMode::Auto);
    // Checked against Python 3.11 argparse with choices=[...].
    err(
        &["--attach", "kp"],
        "argument --attach: invalid choice: 'kp' (choose from 'auto', 'kprobe', 'tracepoint')",
    );
    err(&["--attach"], "argument --attach: expected one argument");
}

#[test]
fn ring_size() {
    assert_eq!(ok(&["--ring-size", "64"]).ring_size_kib, Some(64));
    assert_eq!(ok(&["--ring=1048576"]).ring_size_kib, Some(1 << 20));
    assert_eq!(ok(&["--ring-size", "4"]).ring_size_kib, Some(4));
    assert_eq!(ok(&[]).ring_size_kib, None);
    let range = "(a power of two from 4 to 1048576 KiB)";
    err(&["--ring-size", "3000"], &format!("argument --ring-size: invalid ring size: '3000' {range}"));
    err(&["--ring-size", "2"], &format!("argument --ring-size: invalid ring size: '2' {range}"));
    err(&["--ring-size", "2097152"], &format!("argument --ring-size: invalid ring size: '2097152' {range}"));
    err(&["--ring-size", "4k"], "argument --ring-size: invalid int value: '4k'");
    err(&["--ring-size"], "argument --ring-size: expected one argument");
}

// --- -h ordering -------------------------------------------------------

#[test]
fn help_wins_over_anything_after_it() {
    help(&["-h", "-p", "abc"]);
    help(&["-h", "--foo"]);
    help(&["--foo", "-h"]); // unknown arguments are reported only at the end
    help(&["-th"]);
    help(&["-ht"]);
    help(&["--he"]);
    help(&["-t", "--help", "-p"]);
}

#[test]
fn version_is_argparses_with_the_objects_hash() {
    let version = super::version();
    let expected = format!("tcpconnect {} (BPF object sha256:", env!("CARGO_PKG_VERSION"));
    assert!(version.starts_with(&expected) && version.ends_with(")\n"), "{version}");
    for args in
        [&["--version"][..], &["--vers"], &["-t", "--version", "-p", "abc"], &["--bogus", "--version"]]
    {
        assert_eq!(run(args), Err(CliExit::Help(version.clone())), "args: {args:?}");
    }
}

#[test]
fn errors_before_help_are_reported() {
    err(&["-p", "abc", "-h"], "argument -p/--pid: invalid int value: 'abc'");
    err(&["-p", "-h"], "argument -p/--pid: expected one argument");
    // The whole word is matched before anything runs.
    err(&["-hp"], "argument -p/--pid: expected one argument");
    err(&["-hx"], "argument -h/--help: ignored explicit argument 'x'");
    err(&["--help=yes"], "argument -h/--help: ignored explicit argument 'yes'");
    // Abbreviations are resolved for every word before any option runs.
    err(&["-h", "--p"], "ambiguous option: --p could match --pid, --port, --print-uid, --ppid");
}

// --- unrecognized arguments ------------------------------------------

#[test]
fn unrecognized_arguments_are_all_collected_in_order() {
    err(&["--foo"], "unrecognized arguments: --foo");
    err(&["bar"], "unrecognized arguments: bar");
    err(&["--foo", "-t", "bar"], "unrecognized arguments: --foo bar");
    err(&["-p", "5", "6", "-x", "-U", "7"], "unrecognized arguments: 6 -x 7");
    err(&["-"], "unrecognized arguments: -");
    err(&[""], "unrecognized arguments: ");
    err(&["---t"], "unrecognized arguments: ---t");
    err(&["--timestampx"], "unrecognized arguments: --timestampx");
    // Words after "--" are positional; "--" itself is reported too.
    err(&["--"], "unrecognized arguments: --");
    err(&["--", "-t", "x"], "unrecognized arguments: -- -t x");
    err(&["-t", "--", "--"], "unrecognized arguments: -- --");
    err(&["-p", "5", "--"], "unrecognized arguments: --");
    // A negative number and a word with a space are positional words.
    err(&["-5"], "unrecognized arguments: -5");
    err(&["-x y"], "unrecognized arguments: -x y");
}

#[test]
fn value_errors_come_before_unrecognized_arguments() {
    err(&["--foo", "-p", "abc"], "argument -p/--pid: invalid int value: 'abc'");
    err(&["bar", "-u"], "argument -u/--uid: expected one argument");
}

#[test]
fn ambiguous_abbreviations() {
    let p = "could match --pid, --port, --print-uid, --ppid";
    err(&["--p"], &format!("ambiguous option: --p {p}"));
    err(&["--p=5"], &format!("ambiguous option: --p=5 {p}"));
    err(&["-t", "--p", "5"], &format!("ambiguous option: --p {p}"));
    err(&["--pr", "--po", "--p"], &format!("ambiguous option: --p {p}"));
    err(&["--"], "unrecognized arguments: --"); // not an abbreviation
    let all = "could match --help, --timestamp, --pid, --port, --ipv4, --ipv6, --lport, --print-uid, --uid, \
                   --count, --cgroupmap, --mntnsmap, --dns, --result, --failed, --ppid, --container, --attach, --ring-size, \
                   --json, --verbose, --version";
    err(&["--="], &format!("ambiguous option: --= {all}"));
    err(&["--=5"], &format!("ambiguous option: --=5 {all}"));
    // argparse stops at the first ambiguous word.
    err(&["-p", "abc", "--p"], &format!("ambiguous option: --p {p}"));
}

// --- missing values ----------------------------------------------------

#[test]
fn missing_values() {
    err(&["-p"], "argument -p/--pid: expected one argument");
    err(&["--pid"], "argument -p/--pid: expected one argument");
    err(&["-p", "-t"], "argument -p/--pid: expected one argument");
    err(&["-p", "--foo"], "argument -p/--pid: expected one argument");
    err(&["-p", "--"], "argument -p/--pid: expected one argument");
    err(&["-p", "--", "5"], "argument -p/--pid: expected one argument");
    err(&["-tp"], "argument -p/--pid: expected one argument");
    err(&["-u"], "argument -u/--uid: expected one argument");
    err(&["-P"], "argument -P/--port: expected one argument");
    err(&["--po"], "argument -P/--port: expected one argument");
    // Not a negative number, so it counts as an (unknown) option.
    err(&["-p", "-1e5"], "argument -p/--pid: expected one argument");
    err(&["-P", "-80,81"], "argument -P/--port: expected one argument");
}

// --- bad values --------------------------------------------------------

#[test]
fn invalid_ints() {
    err(&["-p", "abc"], "argument -p/--pid: invalid int value: 'abc'");
    err(&["-pabc"], "argument -p/--pid: invalid int value: 'abc'");
    err(&["--pid=abc"], "argument -p/--pid: invalid int value: 'abc'");
    err(&["-u", "abc"], "argument -u/--uid: invalid int value: 'abc'");
    err(&["--pid="], "argument -p/--pid: invalid int value: ''");
    err(&["-p", ""], "argument -p/--pid: invalid int value: ''");
    err(&["-p", "1.5"], "argument -p/--pid: invalid int value: '1.5'");
    err(&["-p-1.5"], "argument -p/--pid: invalid int value: '-1.5'");
    err(&["-p", "0x10"], "argument -p/--pid: invalid int value: '0x10'");
    err(&["-p", "1__0"], "argument -p/--pid: invalid int value: '1__0'");
    err(&["-p", "_10"], "argument -p/--pid: invalid int value: '_10'");
    err(&["-p", "10_"], "argument -p/--pid: invalid int value: '10_'");
    err(&["-p", "- 5"], "argument -p/--pid: invalid int value: '- 5'");
    err(&["-p", "+"], "argument -p/--pid: invalid int value: '+'");
    err(&["-p", "-x y"], "argument -p/--pid: invalid int value: '-x y'");
    // "-tp=5": -t, then -p with "=5" glued on.
    err(&["-tp=5"], "argument -p/--pid: invalid int value: '=5'");
    // Python's repr() quoting and escapes.
    err(&["-p", "it's"], r#"argument -p/--pid: invalid int value: "it's""#);
    err(&["-p", "'\""], r#"argument -p/--pid: invalid int value: '\'"'"#);
    err(&["-p", "a\\b\tc\u{1}\u{7f}é"], r"argument -p/--pid: invalid int value: 'a\\b\tc\x01\x7fé'");
    err(&["-p", "\u{a0}\u{200b}\u{e000}x"], r"argument -p/--pid: invalid int value: '\xa0\u200b\ue000x'");
    err(&["-p", "\u{10fffd}x"], r"argument -p/--pid: invalid int value: '\U0010fffdx'");
}

#[test]
fn pid_range() {
    err(&["-p", "0"], "argument -p/--pid: invalid PID value: '0'");
    err(&["-p", "4194305"], "argument -p/--pid: invalid PID value: '4194305'");
    err(
        &["-p", "99999999999999999999999999999999999999999"],
        "argument -p/--pid: invalid PID value: '99999999999999999999999999999999999999999'",
    );
    // A negative number is taken as the value, not as an option.
    err(&["-p-5"], "argument -p/--pid: invalid PID value: '-5'");
    err(&["-p-5"], "argument -p/--pid: invalid PID value: '-5'");
    err(&["--pid=-5"], "argument -p/--pid: invalid PID value: '-5'");
    // Python's `$` matches before a final newline.
    err(&["-p-5\n"], r"argument -p/--pid: invalid PID value: '-5\n'");
}

#[test]
fn uid_range() {
    err(&["-u-1"], "argument -u/--uid: invalid UID value: '-1'");
    err(&["-u", "4294967295"], "argument -u/--uid: invalid UID value: '4294967295'");
    err(&["-u", "4294967296"], "argument -u/--uid: invalid UID value: '4294967296'");
    err(&["--uid=-.5"], "argument -u/--uid: invalid int value: '-.5'");
}

#[test]
fn port_lists() {
    err(&["-P", "80,x"], "argument -P/--port: invalid port list: '80,x'");
    err(&["-P", "x,70000"], "argument -P/--port: invalid port list: 'x,70000'");
    err(&["-P", "70000,x"], "argument -P/--port: invalid port list: '70000,x'");
    err(&["-P", "80,,81"], "argument -P/--port: invalid port list: '80,,81'");
    err(&["-P", "80,"], "argument -P/--port: invalid port list: '80,'");
    err(&["-P", ""], "argument -P/--port: invalid port list: ''");
    err(&["-P="], "argument -P/--port: invalid port list: ''");
    err(&["-P", "80;81"], "argument -P/--port: invalid port list: '80;81'");
    err(&["-P", "70000"], "argument -P/--port: port out of range (1-65535): '70000'");
    err(&["-P", "80, 0"], "argument -P/--port: port out of range (1-65535): ' 0'");
    err(&["-P", "80,65536,0"], "argument -P/--port: port out of range (1-65535): '65536'");
    err(&["-P-1"], "argument -P/--port: port out of range (1-65535): '-1'");
}

#[test]
fn glued_text_on_flags() {
    err(&["-tx"], "argument -t/--timestamp: ignored explicit argument 'x'");
    err(&["-tUx"], "argument -U/--print-uid: ignored explicit argument 'x'");
    err(&["-t=x"], "argument -t/--timestamp: ignored explicit argument 'x'");
    err(&["-t="], "argument -t/--timestamp: ignored explicit argument ''");
    err(&["--timestamp=x"], "argument -t/--timestamp: ignored explicit argument 'x'");
    err(&["--time="], "argument -t/--timestamp: ignored explicit argument ''");
    err(&["-té"], "argument -t/--timestamp: ignored explicit argument 'é'");
}

#[test]
fn errors_are_reported_left_to_right() {
    err(&["-p", "0", "-u", "x"], "argument -p/--pid: invalid PID value: '0'");
    err(&["-u", "x", "-p", "0"], "argument -u/--uid: invalid int value: 'x'");
    // The earlier value is checked even though a later one would replace it.
    err(&["-p", "0", "-p", "5"], "argument -p/--pid: invalid PID value: '0'");
}

// --- non-UTF-8 arguments -------------------------------------------------

#[cfg(unix)]
#[test]
fn non_utf8_arguments_never_panic() {
    use std::os::unix::ffi::OsStringExt;
    let run_raw = |args: &[&[u8]]| {
        let args = args.iter().map(|a| OsString::from_vec(a.to_vec()));
        parse(std::iter::once(OsString::from("tcpconnect")).chain(args))
    };
    // Shown the way Python shows surrogate-escaped argv: \udcXX.
    assert_eq!(run_raw(&[b"\xff"]), Err(usage(r"unrecognized arguments: \udcff")));
    assert_eq!(run_raw(&[b"--\xffx", b"a\xc3"]), Err(usage(r"unrecognized arguments: --\udcffx a\udcc3")));
    assert_eq!(
        run_raw(&[b"-p", b"1\xe2\x82"]),
        Err(usage(r"argument -p/--pid: invalid int value: '1\udce2\udc82'"))
    );
    assert_eq!(
        run_raw(&[b"--pid=\x80\xe2\x82\xac"]),
        Err(usage(r"argument -p/--pid: invalid int value: '\udc80€'"))
    );
    assert_eq!(
        run_raw(&[b"-P", b"80,\xff"]),
        Err(usage(r"argument -P/--port: invalid port list: '80,\udcff'"))
    );
    assert_eq!(
        run_raw(&[b"-t\xff"]),
        Err(usage(r"argument -t/--timestamp: ignored explicit argument '\udcff'"))
    );
    assert_eq!(run_raw(&[b"--p\xff"]), Err(usage(r"unrecognized arguments: --p\udcff")));
    assert_eq!(
        run_raw(&[b"-p", b"5", b"-U"]),
        Ok(Options { pid: Some(5), print_uid: true, ..Options::default() })
    );
}

// --- helpers -------------------------------------------------------------

#[test]
fn negative_number_matcher() {
    for yes in ["-1", "-0", "-123", "-1.5", "-.5", "-5\n"] {
        assert!(looks_like_negative_number(yes.as_bytes()), "{yes:?}");
    }
    for no in ["-", "1", "--1", "-1.", "-.", "-1e5", "-1.2.3", "-5\n\n", "-5 ", "- 5", "-x"] {
        assert!(!looks_like_negative_number(no.as_bytes()), "{no:?}");
    }
    // -4 and -6 look like negative numbers: from then on `-u -1` is an
    // option word, not a value, as in bcc.
    assert!(has_negative_number_options(OPTIONS));
}

#[test]
fn python_int() {
    assert_eq!(py_int(b"0"), Some(0));
    assert_eq!(py_int(b" -1_000 "), Some(-1000));
    assert_eq!(py_int("\u{2003}+7\u{85}".as_bytes()), Some(7));
    assert_eq!(py_int(b"1e3"), None);
    assert_eq!(py_int(b"\x1c5"), None); // not whitespace to int()
    assert_eq!(py_int(b"5\x00"), None);
    assert_eq!(py_int(b"-"), None);
    assert_eq!(py_int(b""), None);
    assert_eq!(py_int(b"   "), None);
    assert_eq!(py_int(&[b'9'; 60]), Some(i128::MAX));
}

#[test]
fn python_repr() {
    assert_eq!(py_repr(b"abc"), "'abc'");
    assert_eq!(py_repr(b""), "''");
    assert_eq!(py_repr(b"it's"), r#""it's""#);
    assert_eq!(py_repr(br#"say "hi""#), r#"'say "hi"'"#);
    assert_eq!(py_repr(br#"'""#), r#"'\'"'"#);
    assert_eq!(py_repr(b"\r\n\t\\\x1b"), r"'\r\n\t\\\x1b'");
    assert_eq!(py_repr("\u{85}\u{2028}\u{feff}ü日本".as_bytes()), r"'\x85\u2028\ufeffü日本'");
    assert_eq!(py_repr(b"\xff"), r"'\udcff'");
}

#[test]
fn word_wrapping() {
    assert_eq!(wrap("  a \n b ", 10), ["a b"]);
    assert_eq!(wrap("aaa bbb ccc", 7), ["aaa bbb", "ccc"]);
    assert_eq!(wrap("aaa bbb ccc", 6), ["aaa", "bbb", "ccc"]);
    assert_eq!(wrap("", 6), Vec::<String>::new());
    assert_eq!(wrap("abcdefgh ij", 4), ["abcdefgh", "ij"]);
}
