//! The parser: `ArgumentParser._parse_known_args` + `parse_args`, step by
//! step (the comments name the argparse step each part copies).

use super::python::{py_display, py_repr};
use super::table::{group_of, Action, OptSpec, OPTIONS};
use super::Options;

/// Why parsing stopped.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Exit {
    Help,
    Version,
    /// The message that goes after `tcpconnect: error: `.
    Error(String),
}

/// An option word matched to its [`OptSpec`], i.e. argparse's `option_tuple`.
#[derive(Clone, Copy)]
pub(super) struct Match<'a> {
    pub(super) spec: &'static OptSpec,
    /// The option string that matched: the full name, even when the user gave
    /// an abbreviation.
    pub(super) flag: &'static str,
    /// Text glued to the option: `5` in `-p5` or `--pid=5`, `U` in `-tU`.
    pub(super) explicit: Option<&'a [u8]>,
}

/// How argparse classifies a word before it runs any action: its
/// `arg_strings_pattern`, with letters 'A', '-' and 'O'.
#[derive(Clone, Copy)]
pub(super) enum Word<'a> {
    /// 'A': a positional word. Only these can be an option's value.
    Positional,
    /// '-': the first `--`. Every word after it is positional.
    DoubleDash,
    /// 'O' with no action: looks like an option, but none matches.
    Unknown,
    /// 'O': one of our options.
    Known(Match<'a>),
}

pub(super) fn parse_words(args: &[Vec<u8>]) -> Result<Options, Exit> {
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
    // The outcome of a connect is no part of a per-flow count.
    for (given, flag) in [(options.result, "--result"), (options.failed, "--failed")] {
        if options.count && given {
            return Err(Exit::Error(format!("argument {flag}: not allowed with argument -c/--count")));
        }
    }
    // Who made a connect is read as it is made: a count has no line to
    // show it on, and an event held for its local port or its outcome goes
    // out later, in another task's context.
    for (given, flag) in [(options.ppid, "--ppid"), (options.container, "--container")] {
        let others = [
            (options.count, "-c/--count"),
            (options.lport, "-L/--lport"),
            (options.result, "--result"),
            (options.failed, "--failed"),
        ];
        if let (true, Some((_, other))) = (given, others.iter().find(|(on, _)| *on)) {
            return Err(Exit::Error(format!("argument {flag}: not allowed with argument {other}")));
        }
    }
    Ok(options)
}

/// argparse's `_parse_optional`: is `arg` an option, and if so which one?
pub(super) fn classify(arg: &[u8], negative_number_options: bool) -> Result<Word<'_>, Exit> {
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
pub(super) fn option_tuples(arg: &[u8]) -> Vec<Match<'_>> {
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
pub(super) fn consume_option(
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
            (Action::Help | Action::Version | Action::SetTrue(_), None) => {
                pending.push((spec, None));
                break i + 1;
            }
            // A flag with text glued on. A long flag (`--timestamp=x`) can't
            // take the text, so it is an error. For a short flag (`-tUx`), the
            // text is read as more short flags, one character at a time.
            (Action::Help | Action::Version | Action::SetTrue(_), Some(glued)) => {
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
            (Action::Version, _) => return Err(Exit::Version),
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
pub(super) fn lookup(name: &[u8]) -> Option<(&'static OptSpec, &'static str)> {
    OPTIONS.iter().find_map(|spec| {
        let flag = spec.flags.iter().find(|flag| flag.as_bytes() == name)?;
        Some((spec, *flag))
    })
}

/// argparse's `ArgumentError`: `argument -p/--pid: <message>`.
pub(super) fn argument_error(spec: &OptSpec, message: &str) -> Exit {
    Exit::Error(format!("argument {}: {message}", spec.flags.join("/")))
}

/// argparse's `_has_negative_number_optionals`.
pub(super) fn has_negative_number_options(specs: &[OptSpec]) -> bool {
    specs.iter().flat_map(|spec| spec.flags).any(|flag| looks_like_negative_number(flag.as_bytes()))
}

/// argparse's `_negative_number_matcher`, the regex `^-\d+$|^-\d*\.\d+$`.
/// In Python's `re`, `$` also matches just before a final newline, so `"-5\n"`
/// counts as a number. One difference: `\d` also matches non-ASCII digits in
/// Python; here only ASCII digits count.
pub(super) fn looks_like_negative_number(arg: &[u8]) -> bool {
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
