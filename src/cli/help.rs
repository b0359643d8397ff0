//! Help and usage layout: argparse's `HelpFormatter`.

use super::table::{group_of, Action, OptSpec, DESCRIPTION, EPILOG};
use std::fmt::Write as _;

/// argparse wraps help to the terminal width minus 2, using 80 columns when
/// stdout is not a terminal. We always assume 80 columns. On terminals at
/// least 80 columns wide (and when piped), the output is the same as bcc's.
pub(super) const WIDTH: usize = 78;
/// argparse's `max_help_position`: the furthest column where help text starts.
pub(super) const MAX_HELP_POSITION: usize = 24;
/// Indent of the entries under "optional arguments:".
pub(super) const INDENT: usize = 2;

/// `-p PID, --pid PID`: the left column of a help entry.
pub(super) fn invocation(spec: &OptSpec) -> String {
    match spec.action {
        Action::Store { metavar, .. } => {
            let forms: Vec<String> = spec.flags.iter().map(|f| format!("{f} {metavar}")).collect();
            forms.join(", ")
        }
        Action::Help | Action::Version | Action::SetTrue(_) => spec.flags.join(", "),
    }
}

/// argparse's `_format_usage`, without the trailing newline. If the usage is
/// too long it is wrapped, and continuation lines line up under the first
/// option. Only argparse's "short prog" layout is copied; `tcpconnect` is
/// always short enough for it.
pub(super) fn format_usage(prog: &str, specs: &[OptSpec]) -> String {
    const PREFIX: &str = "usage: ";
    let mut parts: Vec<String> = Vec::new();
    let mut previous_group = None;
    for spec in specs {
        let inner = match spec.action {
            Action::Store { metavar, .. } => format!("{} {metavar}", spec.flags[0]),
            Action::Help | Action::Version | Action::SetTrue(_) => spec.flags[0].to_owned(),
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
pub(super) fn format_help(prog: &str, specs: &[OptSpec]) -> String {
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
pub(super) fn wrap(text: &str, width: usize) -> Vec<String> {
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
