//! The man page: renders without warnings, and names every option --help
//! lists (and the other way round), so the two never drift.

mod support;

use std::process::Command;
use support::tcpconnect_bin;

const PAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/man/man8/tcpconnect.8");

/// Long options (`--xyz`) in a text.
fn long_options(text: &str) -> std::collections::BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--") && w.len() > 2 && w.as_bytes()[2].is_ascii_alphabetic())
        .map(str::to_owned)
        .collect()
}

#[test]
fn man_page_and_help_list_the_same_options() {
    let help = Command::new(tcpconnect_bin()).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    // roff writes a dash as \-; read the page as it renders.
    let page = std::fs::read_to_string(PAGE).unwrap().replace("\\-", "-");
    let in_help = long_options(&help);
    let in_page = long_options(&page);
    assert!(in_help.len() >= 16, "{in_help:?}");
    let missing: Vec<_> = in_help.difference(&in_page).collect();
    assert!(missing.is_empty(), "options in --help but not in the man page: {missing:?}");
    let extra: Vec<_> = in_page.difference(&in_help).collect();
    assert!(extra.is_empty(), "options in the man page but not in --help: {extra:?}");
}

#[test]
fn man_page_renders_without_warnings() {
    let out = match Command::new("groff").args(["-man", "-Tutf8", "-ww", "-z", PAGE]).output() {
        Ok(out) => out,
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "groff is needed in CI: {e}");
            eprintln!("skipping: no groff ({e})");
            return;
        }
    };
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "groff warnings");
}
