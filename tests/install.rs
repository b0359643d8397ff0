//! tools/install honours PREFIX and DESTDIR, lays out sbin and man8, adds
//! the bcc package's names on request, and uninstalls all of it.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use support::tcpconnect_bin;

fn install(destdir: &Path, args: &[&str]) -> String {
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tools/install"))
        .args(args)
        .env("DESTDIR", destdir)
        .env("PREFIX", "/usr")
        .env("BINARY", tcpconnect_bin())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Every file and symlink under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn install_lays_out_sbin_and_man8_and_uninstalls() {
    let destdir = std::env::temp_dir().join(format!("tcpconnect-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&destdir);
    install(&destdir, &["--bpfcc"]);
    assert_eq!(
        tree(&destdir),
        [
            "usr/sbin/tcpconnect",
            "usr/sbin/tcpconnect-bpfcc",
            "usr/share/man/man8/tcpconnect-bpfcc.8",
            "usr/share/man/man8/tcpconnect.8"
        ]
    );
    let sbin = destdir.join("usr/sbin");
    assert_eq!(std::fs::metadata(sbin.join("tcpconnect")).unwrap().permissions().mode() & 0o777, 0o755);
    assert_eq!(std::fs::read(sbin.join("tcpconnect")).unwrap(), std::fs::read(tcpconnect_bin()).unwrap());
    assert_eq!(std::fs::read_link(sbin.join("tcpconnect-bpfcc")).unwrap(), Path::new("tcpconnect"));
    let man = destdir.join("usr/share/man/man8/tcpconnect.8");
    assert_eq!(std::fs::metadata(&man).unwrap().permissions().mode() & 0o777, 0o644);
    // The installed binary runs under its bcc name too.
    let help = Command::new(sbin.join("tcpconnect-bpfcc")).arg("-h").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).starts_with("usage: tcpconnect "));

    install(&destdir, &["--uninstall"]);
    assert_eq!(tree(&destdir), Vec::<String>::new());
    std::fs::remove_dir_all(&destdir).unwrap();
}
