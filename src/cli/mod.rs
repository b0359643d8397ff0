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

use help::{format_help, format_usage};
use parser::{parse_words, Exit};
use std::ffi::OsString;
use std::path::PathBuf;
use table::{OPTIONS, PROG};

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
    /// --result: print each connect with its outcome.
    pub result: bool,
    /// --failed: only connects whose outcome is not OK (implies --result).
    pub failed: bool,
    /// --ppid: print the parent process of each connect's.
    pub ppid: bool,
    /// --container: print the container (or cgroup) of each connect's process.
    pub container: bool,
    pub json: bool,
    pub attach: AttachMode,
    pub verbose: bool,
    /// --ring-size: the BPF ring buffer's size in KiB.
    pub ring_size_kib: Option<u32>,
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
    /// Print this text to stdout and exit 0 (-h/--help, --version).
    Help(String),
    /// Print this text to stderr and exit 2 (bad usage). Already ends with '\n'.
    Usage(String),
}

/// The usage line as argparse prints it: with the `usage: ` prefix and no
/// newline at the end. It must equal what `format_usage` builds from
/// `OPTIONS`, and a unit test checks this.
pub const USAGE: &str = "usage: tcpconnect [-h] [-t] [-p PID] [-P PORT] [-4 | -6] [-L] [-U] [-u UID]
                  [-c] [--cgroupmap CGROUPMAP] [--mntnsmap MNTNSMAP] [-d]
                  [--result] [--failed] [--ppid] [--container]
                  [--attach {auto,kprobe,tracepoint}] [--ring-size KIB] [-j]
                  [-v] [--version]";

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
        Exit::Version => CliExit::Help(version()),
        Exit::Error(message) => {
            CliExit::Usage(format!("{}\n{PROG}: error: {message}\n", format_usage(PROG, OPTIONS)))
        }
    })
}

/// What --version prints: argparse's `%(prog)s VERSION`, then the SHA-256
/// of the embedded BPF object (as `sha256sum` prints it), so a bug report
/// names both the tool and the programs it loads.
pub fn version() -> String {
    format!("{PROG} {} (BPF object sha256:{})\n", env!("CARGO_PKG_VERSION"), env!("TCPCONNECT_BPF_SHA256"))
}

mod help;
mod parser;
mod python;
mod table;
#[cfg(test)]
mod tests;
mod values;
