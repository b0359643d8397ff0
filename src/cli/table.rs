//! The option table: the only place options are defined, with their help
//! lines, and the program's name, description and epilog.

use super::values::path;
use super::values::{parse_attach, parse_pid, parse_ports, parse_ring_size, parse_uid};
use super::Options;

pub(super) const PROG: &str = "tcpconnect";
pub(super) const DESCRIPTION: &str = "Trace TCP connects";
/// bcc's `examples` epilog. `RawDescriptionHelpFormatter` prints it unchanged.
pub(super) const EPILOG: &str = "\
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

/// Sets the value of a value-taking option. `Err` holds the text that goes
/// after `argument -x/--xx: `, as from a `type=` function that raised
/// `ArgumentTypeError`.
pub(super) type StoreFn = fn(&mut Options, &[u8]) -> Result<(), String>;

/// What an option does when it is seen (argparse's `action=`).
#[derive(Clone, Copy)]
pub(super) enum Action {
    /// `action='help'`: print the help and exit 0, right away.
    Help,
    /// `action='version'`: print the version and exit 0, right away.
    Version,
    /// `action='store_true'`: takes no value (nargs=0).
    SetTrue(fn(&mut Options)),
    /// `action='store'` with a `type=` converter: takes exactly one value
    /// (nargs=None). Last one wins.
    Store { metavar: &'static str, store: StoreFn },
}

/// One `parser.add_argument(...)` call.
pub(super) struct OptSpec {
    /// Option strings in declaration order, e.g. `&["-p", "--pid"]`. argparse
    /// uses the first one in the usage line, and the order also sets the order
    /// of the candidates in "ambiguous option" messages.
    pub(super) flags: &'static [&'static str],
    pub(super) action: Action,
    pub(super) help: &'static str,
}

/// bcc's `add_argument` calls, in the same order. `-h` comes first because
/// argparse adds it before everything else.
///
/// argparse's rule that "`-1` is a value, not an option" applies only while
/// no option string looks like a negative number. With `-4` and `-6` in the
/// table, `-u -1` is `expected one argument`, as it is in bcc;
/// [`parse_words`] works this out from the table. `-4` and `-6` form a
/// mutually exclusive group ([`EXCLUSIVE_GROUPS`]).
pub(super) const OPTIONS: &[OptSpec] = &[
    OptSpec { flags: &["-h", "--help"], action: Action::Help, help: "show this help message and exit" },
    OptSpec {
        flags: &["-t", "--timestamp"],
        action: Action::SetTrue(|o| o.timestamp = true),
        help: "include timestamp on output",
    },
    OptSpec {
        flags: &["-p", "--pid"],
        action: Action::Store { metavar: "PID", store: |o, v| parse_pid(v).map(|p| o.pid = Some(p)) },
        help: "trace this PID only",
    },
    OptSpec {
        flags: &["-P", "--port"],
        action: Action::Store { metavar: "PORT", store: |o, v| parse_ports(v).map(|p| o.ports = p) },
        help: "comma-separated list of destination ports to trace.",
    },
    OptSpec {
        flags: &["-4", "--ipv4"],
        action: Action::SetTrue(|o| o.family = Some(4)),
        help: "trace IPv4 family only",
    },
    OptSpec {
        flags: &["-6", "--ipv6"],
        action: Action::SetTrue(|o| o.family = Some(6)),
        help: "trace IPv6 family only",
    },
    OptSpec { flags: &["-L", "--lport"], action: Action::SetTrue(|o| o.lport = true), help: "include LPORT on output" },
    OptSpec {
        flags: &["-U", "--print-uid"],
        action: Action::SetTrue(|o| o.print_uid = true),
        help: "include UID on output",
    },
    OptSpec {
        flags: &["-u", "--uid"],
        action: Action::Store { metavar: "UID", store: |o, v| parse_uid(v).map(|u| o.uid = Some(u)) },
        help: "trace this UID only",
    },
    OptSpec {
        flags: &["-c", "--count"],
        action: Action::SetTrue(|o| o.count = true),
        help: "count connects per src ip and dest ip/port",
    },
    OptSpec {
        flags: &["--cgroupmap"],
        action: Action::Store { metavar: "CGROUPMAP", store: |o, v| {
            o.cgroupmap = Some(path(v));
            Ok(())
        } },
        help: "trace cgroups in this BPF map only",
    },
    OptSpec {
        flags: &["--mntnsmap"],
        action: Action::Store { metavar: "MNTNSMAP", store: |o, v| {
            o.mntnsmap = Some(path(v));
            Ok(())
        } },
        help: "trace mount namespaces in this BPF map only",
    },
    OptSpec {
        flags: &["-d", "--dns"],
        action: Action::SetTrue(|o| o.dns = true),
        help: "include likely DNS query associated with each connect",
    },
    // Ours, not bcc's: connect outcomes, which kernel hook to use, JSON, and
    // saying which hook was used.
    OptSpec {
        flags: &["--result"],
        action: Action::SetTrue(|o| o.result = true),
        help: "print each connect when its handshake ends, with RESULT (OK, the error such as ECONNREFUSED, or CLOSED) and LAT(ms)",
    },
    OptSpec {
        flags: &["--failed"],
        action: Action::SetTrue(|o| o.failed = true),
        help: "print only connects that did not succeed (implies --result)",
    },
    OptSpec {
        flags: &["--ppid"],
        action: Action::SetTrue(|o| o.ppid = true),
        help: "include PPID and PCOMM, the parent process, on output",
    },
    OptSpec {
        flags: &["--container"],
        action: Action::SetTrue(|o| o.container = true),
        help: "include CONTAINER on output: the container's name (else its ID), or the cgroup's name outside containers",
    },
    OptSpec {
        flags: &["--attach"],
        action: Action::Store { metavar: "{auto,kprobe,tracepoint}", store: |o, v| parse_attach(v).map(|a| o.attach = a) },
        help: "how to hook into the kernel: the sock:inet_sock_set_state tracepoint where it exists (Linux 4.16+), kprobes otherwise (auto, the default), or force one",
    },
    OptSpec {
        flags: &["--ring-size"],
        action: Action::Store { metavar: "KIB", store: |o, v| parse_ring_size(v).map(|k| o.ring_size_kib = Some(k)) },
        help: "size of the BPF ring buffer events go through (Linux 5.8+), in KiB, a power of two (default 256)",
    },
    OptSpec {
        flags: &["-j", "--json"],
        action: Action::SetTrue(|o| o.json = true),
        help: "print one JSON object per line per event (per row with -c)",
    },
    OptSpec {
        flags: &["-v", "--verbose"],
        action: Action::SetTrue(|o| o.verbose = true),
        help: "say on stderr how tracing was set up",
    },
    OptSpec { flags: &["--version"], action: Action::Version, help: "show program's version number and exit" },
];

/// argparse's `add_mutually_exclusive_group`: options (named by their first
/// flag) of which at most one may be given. Members must be adjacent in
/// `OPTIONS`; the usage line shows them as `[-4 | -6]`.
pub(super) const EXCLUSIVE_GROUPS: &[&[&str]] = &[&["-4", "-6"]];

/// The exclusive group of `spec`, if any.
pub(super) fn group_of(spec: &OptSpec) -> Option<&'static [&'static str]> {
    EXCLUSIVE_GROUPS.iter().copied().find(|group| group.contains(&spec.flags[0]))
}
