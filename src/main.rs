//! Entry point: parse the command line, run, map the outcome to an exit code.
//! Usage errors exit 2 (as argparse does), runtime errors 1, signals 0.

#![deny(unsafe_code)]

use std::io::Write;
use tcpconnect::cli::{self, CliExit};

fn main() {
    let code = match cli::parse(std::env::args_os()) {
        Err(CliExit::Help(text)) => {
            let _ = std::io::stdout().write_all(text.as_bytes());
            0
        }
        Err(CliExit::Usage(text)) => {
            let _ = std::io::stderr().write_all(text.as_bytes());
            2
        }
        Ok(options) => match tcpconnect::app::run(&options) {
            Ok(_) => 0,
            Err(error) => {
                tcpconnect::app::warn(format_args!("tcpconnect: {error}"));
                1
            }
        },
    };
    std::process::exit(code);
}
