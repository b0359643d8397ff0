//! Command line: a byte-for-byte port of bcc `tcpconnect`'s argparse parser.
//!
//! Scripts depend on how bcc's Python tool behaves, so this module copies
//! Python's `argparse` (3.6–3.9, the versions bcc shipped with) rather than
//! following any Rust convention: the help layout, the error wording, the
//! `usage:` line and exit status 2 on stderr, abbreviated long options,
//! bundled short flags, and which words count as option values.
//!
//! It does not use clap, because clap can't be set up to behave like argparse.
//! Clap stops at the first unknown word; argparse collects them all and
//! reports them only after every known option has run. Clap gives no list of
//! candidates for an ambiguous prefix. It reads `-tp=5` as `5`, where argparse
//! reads `=5`, and it takes `-1e5` as a value. The parser below follows
//! `ArgumentParser._parse_known_args`, and the comments name the argparse
//! step that each part copies.
//!
//! To add an option, add one `OptSpec` to `OPTIONS` (its help line goes
//! there too), then update [`USAGE`]. A unit test checks that `USAGE` matches
//! the usage line generated from the table.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// What to trace and how to print it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub timestamp: bool,
    pub print_uid: bool,
    pub pid: Option<u32>,
    pub uid: Option<u32>,
    /// Destination ports to trace (host order), deduplicated, in the order given; empty = all.
    pub ports: Vec<u16>,
    /// -4/-6: only this IP version.
    pub family: Option<u8>,
    pub lport: bool,
    pub count: bool,
    pub cgroupmap: Option<PathBuf>,
    pub mntnsmap: Option<PathBuf>,
    pub dns: bool,
    pub json: bool,
    pub attach: AttachMode,
    pub verbose: bool,
}

/// How to hook into the kernel (`--attach`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttachMode {
    /// The tracepoint where the kernel has it (4.16+), kprobes otherwise.
    #[default]
    Auto,
    Kprobe,
    Tracepoint,
}

/// What the caller must do instead of running.
#[derive(Debug, PartialEq, Eq)]
pub enum CliExit {
    /// Print this text to stdout and exit 0 (-h/--help).
    Help(String),
    /// Print this text to stderr and exit 2 (bad usage). Already ends with '\n'.
    Usage(String),
}

/// The usage line as argparse prints it: with the `usage: ` prefix and no
/// newline at the end. It must equal what `format_usage` builds from
/// `OPTIONS`, and a unit test checks this.
pub const USAGE: &str = "usage: tcpconnect [-h] [-t] [-p PID] [-P PORT] [-4 | -6] [-L] [-U] [-u UID]
                  [-c] [--cgroupmap CGROUPMAP] [--mntnsmap MNTNSMAP] [-d]
                  [--attach {auto,kprobe,tracepoint}] [-j] [-v]";

/// Parses `args`. `args[0]` is the program name; it is ignored, because
/// messages always call the program `tcpconnect`, as bcc's do.
///
/// # Errors
///
/// [`CliExit::Help`] for `-h`/`--help`, and [`CliExit::Usage`] for bad
/// usage. Both carry the full text to print.
pub fn parse<I, T>(args: I) -> Result<Options, CliExit>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    // On Unix the encoded bytes are exactly the raw argv bytes. Working on bytes
    // means arguments that are not UTF-8 go through the same rules as any other
    // word: they are never lost or mangled, and nothing panics.
    let args: Vec<Vec<u8>> = args.into_iter().skip(1).map(|arg| arg.into().into_encoded_bytes()).collect();
    parse_words(&args).map_err(|exit| match exit {
        Exit::Help => CliExit::Help(format_help(PROG, OPTIONS)),
        Exit::Error(message) => {
            CliExit::Usage(format!("{}\n{PROG}: error: {message}\n", format_usage(PROG, OPTIONS)))
        }
    })
}

// ---------------------------------------------------------------------------
// The option table: the only place options are defined.
// ---------------------------------------------------------------------------

const PROG: &str = "tcpconnect";
const DESCRIPTION: &str = "Trace TCP connects";
/// bcc's `examples` epilog. `RawDescriptionHelpFormatter` prints it unchanged.
const EPILOG: &str = "\
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
type StoreFn = fn(&mut Options, &[u8]) -> Result<(), String>;

/// What an option does when it is seen (argparse's `action=`).
#[derive(Clone, Copy)]
enum Action {
    /// `action='help'`: print the help and exit 0, right away.
    Help,
    /// `action='store_true'`: takes no value (nargs=0).
    SetTrue(fn(&mut Options)),
    /// `action='store'` with a `type=` converter: takes exactly one value
    /// (nargs=None). Last one wins.
    Store { metavar: &'static str, store: StoreFn },
}

/// One `parser.add_argument(...)` call.
struct OptSpec {
    /// Option strings in declaration order, e.g. `&["-p", "--pid"]`. argparse
    /// uses the first one in the usage line, and the order also sets the order
    /// of the candidates in "ambiguous option" messages.
    flags: &'static [&'static str],
    action: Action,
    help: &'static str,
}

/// bcc's `add_argument` calls, in the same order. `-h` comes first because
/// argparse adds it before everything else.
///
/// argparse's rule that "`-1` is a value, not an option" applies only while
/// no option string looks like a negative number. With `-4` and `-6` in the
/// table, `-u -1` is `expected one argument`, as it is in bcc;
/// [`parse_words`] works this out from the table. `-4` and `-6` form a
/// mutually exclusive group ([`EXCLUSIVE_GROUPS`]).
const OPTIONS: &[OptSpec] = &[
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
    // Ours, not bcc's: which kernel hook to use, and saying which one was used.
    OptSpec {
        flags: &["--attach"],
        action: Action::Store { metavar: "{auto,kprobe,tracepoint}", store: |o, v| parse_attach(v).map(|a| o.attach = a) },
        help: "how to hook into the kernel: the sock:inet_sock_set_state tracepoint where it exists (Linux 4.16+), kprobes otherwise (auto, the default), or force one",
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
];

// ---------------------------------------------------------------------------
// Value converters (argparse `type=` functions).
// ---------------------------------------------------------------------------

/// The kernel's `PID_MAX_LIMIT`: no PID can be higher.
const PID_MAX_LIMIT: u32 = 4_194_304;

/// argparse's `add_mutually_exclusive_group`: options (named by their first
/// flag) of which at most one may be given. Members must be adjacent in
/// `OPTIONS`; the usage line shows them as `[-4 | -6]`.
const EXCLUSIVE_GROUPS: &[&[&str]] = &[&["-4", "-6"]];

/// The exclusive group of `spec`, if any.
fn group_of(spec: &OptSpec) -> Option<&'static [&'static str]> {
    EXCLUSIVE_GROUPS.iter().copied().find(|group| group.contains(&spec.flags[0]))
}

/// A path argument, raw bytes kept (paths need not be UTF-8).
fn path(raw: &[u8]) -> PathBuf {
    PathBuf::from(OsString::from_vec(raw.to_vec()))
}

/// `--attach`: argparse `choices=`.
fn parse_attach(raw: &[u8]) -> Result<AttachMode, String> {
    match raw {
        b"auto" => Ok(AttachMode::Auto),
        b"kprobe" => Ok(AttachMode::Kprobe),
        b"tracepoint" => Ok(AttachMode::Tracepoint),
        _ => Err(format!("invalid choice: {} (choose from 'auto', 'kprobe', 'tracepoint')", py_repr(raw))),
    }
}

fn invalid_int(raw: &[u8]) -> String {
    format!("invalid int value: {}", py_repr(raw))
}

/// `-p`: an integer in `1..=PID_MAX_LIMIT`.
fn parse_pid(raw: &[u8]) -> Result<u32, String> {
    let n = py_int(raw).ok_or_else(|| invalid_int(raw))?;
    u32::try_from(n)
        .ok()
        .filter(|pid| (1..=PID_MAX_LIMIT).contains(pid))
        .ok_or_else(|| format!("invalid PID value: {}", py_repr(raw)))
}

/// `-u`: any `uid_t` except `(uid_t)-1`, which means "no uid".
fn parse_uid(raw: &[u8]) -> Result<u32, String> {
    let n = py_int(raw).ok_or_else(|| invalid_int(raw))?;
    u32::try_from(n)
        .ok()
        .filter(|&uid| uid != u32::MAX)
        .ok_or_else(|| format!("invalid UID value: {}", py_repr(raw)))
}

/// `-P`: comma-separated ports. Each element is read the way Python's
/// `int()` reads it, so `"80, 443"` is fine. Duplicates are dropped and the
/// first-seen order is kept. If any element is not an integer, the whole list
/// is invalid; otherwise the first port outside 1..=65535 is reported.
fn parse_ports(raw: &[u8]) -> Result<Vec<u16>, String> {
    let numbers = raw
        .split(|&b| b == b',')
        .map(|element| py_int(element).map(|n| (element, n)))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| format!("invalid port list: {}", py_repr(raw)))?;
    let mut ports = Vec::with_capacity(numbers.len());
    for (element, n) in numbers {
        let port = u16::try_from(n)
            .ok()
            .filter(|&port| port != 0)
            .ok_or_else(|| format!("port out of range (1-65535): {}", py_repr(element)))?;
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    Ok(ports)
}

// ---------------------------------------------------------------------------
// The parser: ArgumentParser._parse_known_args + parse_args.
// ---------------------------------------------------------------------------

/// Why parsing stopped.
#[derive(Debug, PartialEq, Eq)]
enum Exit {
    Help,
    /// The message that goes after `tcpconnect: error: `.
    Error(String),
}

/// An option word matched to its [`OptSpec`], i.e. argparse's `option_tuple`.
#[derive(Clone, Copy)]
struct Match<'a> {
    spec: &'static OptSpec,
    /// The option string that matched: the full name, even when the user gave
    /// an abbreviation.
    flag: &'static str,
    /// Text glued to the option: `5` in `-p5` or `--pid=5`, `U` in `-tU`.
    explicit: Option<&'a [u8]>,
}

/// How argparse classifies a word before it runs any action: its
/// `arg_strings_pattern`, with letters 'A', '-' and 'O'.
#[derive(Clone, Copy)]
enum Word<'a> {
    /// 'A': a positional word. Only these can be an option's value.
    Positional,
    /// '-': the first `--`. Every word after it is positional.
    DoubleDash,
    /// 'O' with no action: looks like an option, but none matches.
    Unknown,
    /// 'O': one of our options.
    Known(Match<'a>),
}

fn parse_words(args: &[Vec<u8>]) -> Result<Options, Exit> {
    let negative_number_options = has_negative_number_options(OPTIONS);

    // Pass 1 classifies every word before any of them acts. An ambiguous
    // abbreviation is therefore reported even when `-h` or a bad value
    // comes before it.
    let mut words = Vec::with_capacity(args.len());
    let mut after_double_dash = false;
    for arg in args {
        let word = if after_double_dash {
            Word::Positional
        } else if arg == b"--" {
            after_double_dash = true;
            Word::DoubleDash
        } else {
            classify(arg, negative_number_options)?
        };
        words.push(word);
    }

    // Pass 2 runs the options from left to right. `-h` exits as soon as it
    // runs, and a bad value fails as soon as it is converted. We define no
    // positional arguments, so every other word, `--` included, is an
    // "extra". Extras are reported only at the end, all together.
    let mut options = Options::default();
    let mut extras: Vec<&[u8]> = Vec::new();
    let mut seen_exclusive = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if let Word::Known(matched) = words[i] {
            i = consume_option(matched, i, args, &words, &mut options, &mut seen_exclusive)?;
        } else {
            extras.push(&args[i]);
            i += 1;
        }
    }
    if !extras.is_empty() {
        let extras: Vec<String> = extras.into_iter().map(py_display).collect();
        return Err(Exit::Error(format!("unrecognized arguments: {}", extras.join(" "))));
    }
    // bcc refuses this pair after parsing (in its own words, with exit 0);
    // we say it as argparse would for an exclusive pair, with exit 2.
    if options.count && options.dns {
        return Err(Exit::Error("argument -d/--dns: not allowed with argument -c/--count".into()));
    }
    Ok(options)
}

/// argparse's `_parse_optional`: is `arg` an option, and if so which one?
fn classify(arg: &[u8], negative_number_options: bool) -> Result<Word<'_>, Exit> {
    // Empty words and words that don't start with '-' are positional.
    if arg.first() != Some(&b'-') {
        return Ok(Word::Positional);
    }
    if let Some((spec, flag)) = lookup(arg) {
        return Ok(Word::Known(Match { spec, flag, explicit: None }));
    }
    // A lone "-" is positional (by convention it means stdin).
    if arg.len() == 1 {
        return Ok(Word::Positional);
    }
    // `--pid=5`, and also `-p=5`, which argparse accepts as well.
    if let Some(eq) = arg.iter().position(|&b| b == b'=') {
        if let Some((spec, flag)) = lookup(&arg[..eq]) {
            let explicit = Some(&arg[eq + 1..]);
            return Ok(Word::Known(Match { spec, flag, explicit }));
        }
    }
    // Abbreviated long options and bundled short options.
    let candidates = option_tuples(arg);
    match candidates.as_slice() {
        [] => {}
        [only] => return Ok(Word::Known(*only)),
        many => {
            let names: Vec<&str> = many.iter().map(|m| m.flag).collect();
            return Err(Exit::Error(format!(
                "ambiguous option: {} could match {}",
                py_display(arg),
                names.join(", ")
            )));
        }
    }
    // `-5` is a (negative number) value unless some option looks like one.
    if looks_like_negative_number(arg) && !negative_number_options {
        return Ok(Word::Positional);
    }
    // argparse's heuristic: a word containing a space is never an option.
    if arg.contains(&b' ') {
        return Ok(Word::Positional);
    }
    Ok(Word::Unknown)
}

/// argparse's `_get_option_tuples`: the options a non-exact word could mean.
fn option_tuples(arg: &[u8]) -> Vec<Match<'_>> {
    let all = OPTIONS.iter().flat_map(|spec| spec.flags.iter().map(move |&flag| (spec, flag)));
    if arg[1] == b'-' {
        // `--xyz[=value]`: any long option that starts with `--xyz`. (argparse
        // lists an option twice if two of its strings match; we do the same.)
        let (prefix, explicit) = match arg.iter().position(|&b| b == b'=') {
            Some(eq) => (&arg[..eq], Some(&arg[eq + 1..])),
            None => (arg, None),
        };
        all.filter(|(_, flag)| flag.as_bytes().starts_with(prefix))
            .map(|(spec, flag)| Match { spec, flag, explicit })
            .collect()
    } else {
        // `-xyz`: the short option `-x` with "yz" glued to it, or an option
        // string that starts with `-xyz`. (argparse compares whole strings, and
        // our option strings are ASCII, so slicing bytes gives the same result.)
        let (short, rest) = arg.split_at(2);
        all.filter_map(|(spec, flag)| {
            if flag.as_bytes() == short {
                Some(Match { spec, flag, explicit: Some(rest) })
            } else if flag.as_bytes().starts_with(arg) {
                Some(Match { spec, flag, explicit: None })
            } else {
                None
            }
        })
        .collect()
    }
}

/// argparse's `consume_optional`. Handles the option at `args[i]`, together
/// with any options bundled after it (`-tUp5`), and returns the index of the
/// first word it did not use. All of the word is matched first, then the
/// actions run. So `-hp` with nothing after it reports `-p`'s missing value
/// and does not print the help.
fn consume_option(
    first: Match,
    i: usize,
    args: &[Vec<u8>],
    words: &[Word],
    options: &mut Options,
    seen: &mut Vec<&'static OptSpec>,
) -> Result<usize, Exit> {
    let mut pending: Vec<(&'static OptSpec, Option<&[u8]>)> = Vec::new();
    let mut current = first;
    let next = loop {
        let Match { spec, flag, explicit } = current;
        match (spec.action, explicit) {
            // `-p5`, `--pid=5`, or `-tp5` once `-t` has been handled.
            (Action::Store { .. }, Some(value)) => {
                pending.push((spec, Some(value)));
                break i + 1;
            }
            // `-p 5`: the value must be the next word, and a positional one.
            // `-p -t`, `-p --` and `-p` at the end all fail here.
            (Action::Store { .. }, None) => match words.get(i + 1) {
                Some(Word::Positional) => {
                    pending.push((spec, Some(&args[i + 1])));
                    break i + 2;
                }
                _ => return Err(argument_error(spec, "expected one argument")),
            },
            (Action::Help | Action::SetTrue(_), None) => {
                pending.push((spec, None));
                break i + 1;
            }
            // A flag with text glued on. A long flag (`--timestamp=x`) can't
            // take the text, so it is an error. For a short flag (`-tUx`), the
            // text is read as more short flags, one character at a time.
            (Action::Help | Action::SetTrue(_), Some(glued)) => {
                let ignored =
                    || argument_error(spec, &format!("ignored explicit argument {}", py_repr(glued)));
                if flag.as_bytes()[1] == b'-' {
                    return Err(ignored());
                }
                pending.push((spec, None));
                // An empty `glued` comes only from `-t=`. CPython 3.6–3.11 crash
                // there with IndexError; 3.12 and later print this message.
                let (&c, rest) = glued.split_first().ok_or_else(ignored)?;
                let (next_spec, next_flag) = lookup(&[b'-', c]).ok_or_else(ignored)?;
                current =
                    Match { spec: next_spec, flag: next_flag, explicit: (!rest.is_empty()).then_some(rest) };
            }
        }
    };
    for (spec, value) in pending {
        // argparse's `take_action`: the conflict check comes before the action.
        if let Some(group) = group_of(spec) {
            let other =
                seen.iter().find(|seen| seen.flags[0] != spec.flags[0] && group.contains(&seen.flags[0]));
            if let Some(other) = other {
                let message = format!("not allowed with argument {}", other.flags.join("/"));
                return Err(argument_error(spec, &message));
            }
            seen.push(spec);
        }
        match (spec.action, value) {
            (Action::Help, _) => return Err(Exit::Help),
            (Action::SetTrue(set), _) => set(options),
            (Action::Store { store, .. }, value) => {
                store(options, value.unwrap_or_default())
                    .map_err(|message| argument_error(spec, &message))?;
            }
        }
    }
    Ok(next)
}

/// An exact match for an option string.
fn lookup(name: &[u8]) -> Option<(&'static OptSpec, &'static str)> {
    OPTIONS.iter().find_map(|spec| {
        let flag = spec.flags.iter().find(|flag| flag.as_bytes() == name)?;
        Some((spec, *flag))
    })
}

/// argparse's `ArgumentError`: `argument -p/--pid: <message>`.
fn argument_error(spec: &OptSpec, message: &str) -> Exit {
    Exit::Error(format!("argument {}: {message}", spec.flags.join("/")))
}

/// argparse's `_has_negative_number_optionals`.
fn has_negative_number_options(specs: &[OptSpec]) -> bool {
    specs.iter().flat_map(|spec| spec.flags).any(|flag| looks_like_negative_number(flag.as_bytes()))
}

/// argparse's `_negative_number_matcher`, the regex `^-\d+$|^-\d*\.\d+$`.
/// In Python's `re`, `$` also matches just before a final newline, so `"-5\n"`
/// counts as a number. One difference: `\d` also matches non-ASCII digits in
/// Python; here only ASCII digits count.
fn looks_like_negative_number(arg: &[u8]) -> bool {
    let arg = arg.strip_suffix(b"\n").unwrap_or(arg);
    let Some(body) = arg.strip_prefix(b"-") else {
        return false;
    };
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    match body.iter().position(|&b| b == b'.') {
        None => !body.is_empty() && digits(body),
        Some(dot) => digits(&body[..dot]) && body.len() > dot + 1 && digits(&body[dot + 1..]),
    }
}

// ---------------------------------------------------------------------------
// Help and usage layout: argparse's HelpFormatter.
// ---------------------------------------------------------------------------

/// argparse wraps help to the terminal width minus 2, using 80 columns when
/// stdout is not a terminal. We always assume 80 columns. On terminals at
/// least 80 columns wide (and when piped), the output is the same as bcc's.
const WIDTH: usize = 78;
/// argparse's `max_help_position`: the furthest column where help text starts.
const MAX_HELP_POSITION: usize = 24;
/// Indent of the entries under "optional arguments:".
const INDENT: usize = 2;

/// `-p PID, --pid PID`: the left column of a help entry.
fn invocation(spec: &OptSpec) -> String {
    match spec.action {
        Action::Store { metavar, .. } => {
            let forms: Vec<String> = spec.flags.iter().map(|f| format!("{f} {metavar}")).collect();
            forms.join(", ")
        }
        Action::Help | Action::SetTrue(_) => spec.flags.join(", "),
    }
}

/// argparse's `_format_usage`, without the trailing newline. If the usage is
/// too long it is wrapped, and continuation lines line up under the first
/// option. Only argparse's "short prog" layout is copied; `tcpconnect` is
/// always short enough for it.
fn format_usage(prog: &str, specs: &[OptSpec]) -> String {
    const PREFIX: &str = "usage: ";
    let mut parts: Vec<String> = Vec::new();
    let mut previous_group = None;
    for spec in specs {
        let inner = match spec.action {
            Action::Store { metavar, .. } => format!("{} {metavar}", spec.flags[0]),
            Action::Help | Action::SetTrue(_) => spec.flags[0].to_owned(),
        };
        let group = group_of(spec);
        match (parts.last_mut(), group) {
            // A member of the group just shown joins it: `[-4 | -6]`.
            (Some(last), Some(_)) if group == previous_group => {
                last.pop();
                last.push_str(&format!(" | {inner}]"));
            }
            _ => parts.push(format!("[{inner}]")),
        }
        previous_group = group;
    }
    let one_line = format!("{PREFIX}{prog} {}", parts.join(" "));
    if one_line.len() <= WIDTH {
        return one_line;
    }
    // argparse's `get_lines`, which fills each line greedily.
    let indent = " ".repeat(PREFIX.len() + prog.len() + 1);
    let mut lines: Vec<String> = Vec::new();
    let mut line: Vec<&str> = Vec::new();
    let mut line_len = PREFIX.len() - 1;
    for part in std::iter::once(prog).chain(parts.iter().map(String::as_str)) {
        if line_len + 1 + part.len() > WIDTH && !line.is_empty() {
            lines.push(line.join(" "));
            line.clear();
            line_len = indent.len() - 1;
        }
        line.push(part);
        line_len += part.len() + 1;
    }
    lines.push(line.join(" "));
    format!("{PREFIX}{}", lines.join(&format!("\n{indent}")))
}

/// `parser.format_help()` with `RawDescriptionHelpFormatter`.
fn format_help(prog: &str, specs: &[OptSpec]) -> String {
    let invocations: Vec<String> = specs.iter().map(invocation).collect();
    let longest = invocations.iter().map(String::len).max().unwrap_or(0);
    // Help text starts 2 columns after the longest invocation, but no further
    // right than column 24. An invocation too long for its column (more than
    // 20 characters at column 24) goes on a line of its own.
    let help_position = (INDENT + longest + 2).min(MAX_HELP_POSITION);
    let action_width = help_position - INDENT - 2;
    let help_width = WIDTH.saturating_sub(help_position).max(11);

    let mut out = format!("{}\n\n{DESCRIPTION}\n\noptional arguments:\n", format_usage(prog, specs));
    for (spec, invocation) in specs.iter().zip(&invocations) {
        let mut lines = wrap(spec.help, help_width).into_iter();
        let first = lines.next().unwrap_or_default();
        if invocation.len() <= action_width {
            let _ = writeln!(out, "{:INDENT$}{invocation:action_width$}  {first}", "");
        } else {
            let _ = writeln!(out, "{:INDENT$}{invocation}", "");
            let _ = writeln!(out, "{:help_position$}{first}", "");
        }
        for line in lines {
            let _ = writeln!(out, "{:help_position$}{line}", "");
        }
    }
    out.push('\n');
    out.push_str(EPILOG);
    out
}

/// argparse's `_split_lines`: squeeze runs of whitespace, then
/// `textwrap.wrap`. This version only breaks at whitespace. textwrap can also
/// break after a hyphen inside a word, and splits words longer than the
/// width; none of our help strings needs either.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

// ---------------------------------------------------------------------------
// Python compatibility: int(), repr() and printing of argv strings.
// ---------------------------------------------------------------------------

/// One unit of an argv string as Python 3 sees it. Python decodes argv as
/// UTF-8 with `surrogateescape`, so each invalid byte becomes U+DC80..U+DCFF.
enum Unit {
    Char(char),
    /// A byte that isn't valid UTF-8; to Python it is the character U+DC00 + byte.
    Escaped(u8),
}

fn units(mut raw: &[u8]) -> Vec<Unit> {
    let mut out = Vec::with_capacity(raw.len());
    loop {
        let (valid, invalid_len) = match std::str::from_utf8(raw) {
            Ok(all) => (all, 0),
            Err(e) => {
                // Up to `valid_up_to` the bytes are valid UTF-8, so this
                // second `from_utf8` call always succeeds.
                let valid = std::str::from_utf8(&raw[..e.valid_up_to()]).unwrap_or_default();
                (valid, e.error_len().unwrap_or(raw.len() - e.valid_up_to()))
            }
        };
        out.extend(valid.chars().map(Unit::Char));
        raw = &raw[valid.len()..];
        if raw.is_empty() {
            return out;
        }
        out.extend(raw[..invalid_len].iter().map(|&b| Unit::Escaped(b)));
        raw = &raw[invalid_len..];
    }
}

/// How Python prints an argv string on stderr. stderr uses
/// `errors='backslashreplace'`, so an escaped byte prints as `\udcXX`, and
/// everything else prints as it is.
fn py_display(raw: &[u8]) -> String {
    units(raw).into_iter().fold(String::with_capacity(raw.len()), |mut out, unit| {
        match unit {
            Unit::Char(c) => out.push(c),
            Unit::Escaped(b) => {
                let _ = write!(out, "\\udc{b:02x}");
            }
        }
        out
    })
}

/// Python's `repr(str)`, which argparse uses in `invalid int value: 'abc'`
/// and similar messages.
fn py_repr(raw: &[u8]) -> String {
    // Single quotes, unless the text contains ' and no ".
    let quote = if raw.contains(&b'\'') && !raw.contains(&b'"') { '"' } else { '\'' };
    let mut out = String::with_capacity(raw.len() + 2);
    out.push(quote);
    for unit in units(raw) {
        let c = match unit {
            Unit::Char(c) => c,
            Unit::Escaped(b) => {
                let _ = write!(out, "\\udc{b:02x}");
                continue;
            }
        };
        let _ = match c {
            '\\' => write!(out, "\\\\"),
            '\t' => write!(out, "\\t"),
            '\n' => write!(out, "\\n"),
            '\r' => write!(out, "\\r"),
            c if c == quote => write!(out, "\\{c}"),
            c if py_printable(c) => write!(out, "{c}"),
            c if u32::from(c) < 0x100 => write!(out, "\\x{:02x}", u32::from(c)),
            c if u32::from(c) < 0x1_0000 => write!(out, "\\u{:04x}", u32::from(c)),
            c => write!(out, "\\U{:08x}", u32::from(c)),
        };
    }
    out.push(quote);
    out
}

/// An approximation of Python's `str.isprintable()` for one character.
/// Control characters, separators other than the space (Z*), format
/// characters (Cf), private-use characters and non-characters are not
/// printable. We have no Unicode tables, so unassigned code points (Cn)
/// count as printable here. Python escapes them, and that is the only
/// difference.
fn py_printable(c: char) -> bool {
    let n = u32::from(c);
    let format = matches!(
        n,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x8E2 | 0x180E | 0x200B..=0x200F
            | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
            | 0x110BD | 0x110CD | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001
            | 0xE0020..=0xE007F
    );
    let private_use = matches!(n, 0xE000..=0xF8FF | 0xF_0000..=0xF_FFFD | 0x10_0000..=0x10_FFFD);
    let noncharacter = matches!(n, 0xFDD0..=0xFDEF) || n & 0xFFFE == 0xFFFE;
    !(c.is_control() || (c != ' ' && c.is_whitespace()) || format || private_use || noncharacter)
}

/// Python's `int(s)` for a str: `None` where Python raises `ValueError`.
/// Python accepts surrounding whitespace (Unicode whitespace too), a sign,
/// leading zeros, and single `_` between digits. Huge values stick at the
/// i128 limits, which are outside every range we check, so they still give
/// the out-of-range error, as Python's big ints do. One difference: Python
/// also accepts non-ASCII decimal digits; only ASCII digits are accepted here.
fn py_int(raw: &[u8]) -> Option<i128> {
    // Invalid UTF-8 becomes lone surrogates in Python, and int() rejects those.
    let text = std::str::from_utf8(raw).ok()?.trim();
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let mut value: i128 = 0;
    for group in digits.split('_') {
        if group.is_empty() || !group.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        for b in group.bytes() {
            value = value.saturating_mul(10).saturating_add(i128::from(b - b'0'));
        }
    }
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELP: &str = "\
usage: tcpconnect [-h] [-t] [-p PID] [-P PORT] [-4 | -6] [-L] [-U] [-u UID]
                  [-c] [--cgroupmap CGROUPMAP] [--mntnsmap MNTNSMAP] [-d]
                  [--attach {auto,kprobe,tracepoint}] [-j] [-v]

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
  --attach {auto,kprobe,tracepoint}
                        how to hook into the kernel: the
                        sock:inet_sock_set_state tracepoint where it exists
                        (Linux 4.16+), kprobes otherwise (auto, the default),
                        or force one
  -j, --json            print one JSON object per line per event (per row with
                        -c)
  -v, --verbose         say on stderr how tracing was set up

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
        json: false,
        attach: AttachMode::Auto,
        verbose: false,
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
        assert!(USAGE
            .starts_with("usage: tcpconnect [-h] [-t] [-p PID] [-P PORT] [-4 | -6] [-L] [-U] [-u UID]\n"));
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
            OptSpec {
                flags: &["-h", "--help"],
                action: Action::Help,
                help: "show this help message and exit",
            },
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
    fn errors_before_help_are_reported() {
        err(&["-p", "abc", "-h"], "argument -p/--pid: invalid int value: 'abc'");
        err(&["-p", "-h"], "argument -p/--pid: expected one argument");
        // The whole word is matched before anything runs.
        err(&["-hp"], "argument -p/--pid: expected one argument");
        err(&["-hx"], "argument -h/--help: ignored explicit argument 'x'");
        err(&["--help=yes"], "argument -h/--help: ignored explicit argument 'yes'");
        // Abbreviations are resolved for every word before any option runs.
        err(&["-h", "--p"], "ambiguous option: --p could match --pid, --port, --print-uid");
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
        let p = "could match --pid, --port, --print-uid";
        err(&["--p"], &format!("ambiguous option: --p {p}"));
        err(&["--p=5"], &format!("ambiguous option: --p=5 {p}"));
        err(&["-t", "--p", "5"], &format!("ambiguous option: --p {p}"));
        err(&["--pr", "--po", "--p"], &format!("ambiguous option: --p {p}"));
        err(&["--"], "unrecognized arguments: --"); // not an abbreviation
        let all =
            "could match --help, --timestamp, --pid, --port, --ipv4, --ipv6, --lport, --print-uid, --uid, \
                   --count, --cgroupmap, --mntnsmap, --dns, --attach, --json, --verbose";
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
        assert_eq!(
            run_raw(&[b"--\xffx", b"a\xc3"]),
            Err(usage(r"unrecognized arguments: --\udcffx a\udcc3"))
        );
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
}
