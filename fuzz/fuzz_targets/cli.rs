//! The argparse-compatible command line (`cli::parse`): the input is argv
//! after the program name, words separated by NUL bytes (as in
//! /proc/PID/cmdline), each word any bytes at all.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use tcpconnect::cli::{parse, CliExit};

fuzz_target!(|data: &[u8]| {
    let mut argv = vec![OsString::from("tcpconnect")];
    if !data.is_empty() {
        argv.extend(data.split(|&b| b == 0).map(|word| OsString::from_vec(word.to_vec())));
    }
    match parse(argv) {
        Ok(_) => {}
        Err(CliExit::Help(text)) => assert!(text.starts_with("usage: tcpconnect")),
        Err(CliExit::Usage(text)) => {
            assert!(text.starts_with("usage: tcpconnect") && text.ends_with('\n'));
            // Messages quote the words given, so they are bounded by them.
            assert!(text.len() <= 4096 + 8 * data.len(), "a {}-byte message", text.len());
        }
    }
});
