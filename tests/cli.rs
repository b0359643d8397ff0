//! The real binary's command line: help on stdout with exit 0, argparse-style
//! usage errors on stderr with exit 2, before anything touches the kernel
//! (so these run without root).

mod support;

use std::process::{Command, Output};
use support::tcpconnect_bin;

const USAGE: &str = "usage: tcpconnect [-h] [-t] [-p PID] [-P PORT] [-4 | -6] [-L] [-U] [-u UID]
                  [-c] [--cgroupmap CGROUPMAP] [--mntnsmap MNTNSMAP] [-d]
                  [--result] [--failed] [--ppid] [--container]
                  [--attach {auto,kprobe,tracepoint}] [--ring-size KIB] [-j]
                  [-v] [--version]\n";

fn run(args: &[&str]) -> Output {
    Command::new(tcpconnect_bin()).args(args).output().unwrap()
}

#[test]
fn help_goes_to_stdout_and_exits_zero() {
    for flag in ["-h", "--help"] {
        let out = run(&[flag]);
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.starts_with(&format!("{USAGE}\nTrace TCP connects\n\noptional arguments:\n")), "{text}");
        assert!(
            text.contains("  -P PORT, --port PORT  comma-separated list of destination ports to trace.\n")
        );
        assert!(text
            .ends_with("    ./tcpconnect --mntnsmap mappath   # only trace mount namespaces in the map\n"));
        assert!(out.stderr.is_empty());
    }
}

/// --version: argparse's line on stdout, exit 0, with the SHA-256 of the
/// embedded object as sha256sum prints it for the committed file.
#[test]
fn version_names_the_tool_and_its_bpf_object() {
    let out = run(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
    let object = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-prebuilt/tcpconnect.bpf.o");
    let sum = Command::new("sha256sum").arg(object).output().expect("sha256sum (coreutils)");
    let sum = String::from_utf8(sum.stdout).unwrap();
    let hash = sum.split_whitespace().next().unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("tcpconnect {} (BPF object sha256:{hash})\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn bad_input_is_an_argparse_error_with_exit_two() {
    let cases: [(&[&str], &str); 10] = [
        (&["-p", "abc"], "argument -p/--pid: invalid int value: 'abc'"),
        (&["-P", "80,x"], "argument -P/--port: invalid port list: '80,x'"),
        (&["-P", "70000"], "argument -P/--port: port out of range (1-65535): '70000'"),
        (&["-u", "-1"], "argument -u/--uid: expected one argument"),
        (&["-u-1"], "argument -u/--uid: invalid UID value: '-1'"),
        (&["-4", "-6"], "argument -6/--ipv6: not allowed with argument -4/--ipv4"),
        (&["--bogus"], "unrecognized arguments: --bogus"),
        (&["-p"], "argument -p/--pid: expected one argument"),
        (&["extra", "-t", "args"], "unrecognized arguments: extra args"),
        (
            &["--attach", "fentry"],
            "argument --attach: invalid choice: 'fentry' (choose from 'auto', 'kprobe', 'tracepoint')",
        ),
    ];
    for (args, message) in cases {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(
            String::from_utf8(out.stderr).unwrap(),
            format!("{USAGE}tcpconnect: error: {message}\n"),
            "{args:?}"
        );
    }
}
