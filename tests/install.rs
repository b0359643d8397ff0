//! tools/install honours PREFIX and DESTDIR, lays out sbin, man8 and the
//! shell completions, adds the bcc package's names on request, and
//! uninstalls all of it. By default it installs target/release/tcpconnect,
//! the build the README's Set up makes.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use support::tcpconnect_bin;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

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
/// Runs the command `make` builds, again if exec saw ETXTBSY: a script this
/// test just copied can be held open for writing for a moment by a child
/// another test thread forked meanwhile (seen once in CI-like runs).
fn output_when_not_busy(make: impl Fn() -> Command) -> std::process::Output {
    for _ in 0..50 {
        match make().output() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            result => return result.unwrap(),
        }
    }
    make().output().unwrap()
}

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
            "usr/share/bash-completion/completions/tcpconnect",
            "usr/share/fish/vendor_completions.d/tcpconnect.fish",
            "usr/share/man/man8/tcpconnect-bpfcc.8",
            "usr/share/man/man8/tcpconnect.8",
            "usr/share/zsh/vendor-completions/_tcpconnect"
        ]
    );
    let sbin = destdir.join("usr/sbin");
    assert_eq!(std::fs::metadata(sbin.join("tcpconnect")).unwrap().permissions().mode() & 0o777, 0o755);
    assert_eq!(std::fs::read(sbin.join("tcpconnect")).unwrap(), std::fs::read(tcpconnect_bin()).unwrap());
    assert_eq!(std::fs::read_link(sbin.join("tcpconnect-bpfcc")).unwrap(), Path::new("tcpconnect"));
    let man = destdir.join("usr/share/man/man8/tcpconnect.8");
    assert_eq!(std::fs::metadata(&man).unwrap().permissions().mode() & 0o777, 0o644);
    for (installed, source) in [
        ("usr/share/bash-completion/completions/tcpconnect", "completions/tcpconnect.bash"),
        ("usr/share/zsh/vendor-completions/_tcpconnect", "completions/_tcpconnect"),
        ("usr/share/fish/vendor_completions.d/tcpconnect.fish", "completions/tcpconnect.fish"),
    ] {
        let installed = destdir.join(installed);
        assert_eq!(
            std::fs::metadata(&installed).unwrap().permissions().mode() & 0o777,
            0o644,
            "{installed:?}"
        );
        assert_eq!(std::fs::read(&installed).unwrap(), std::fs::read(Path::new(REPO).join(source)).unwrap());
    }
    // The installed binary runs under its bcc name too.
    let help = Command::new(sbin.join("tcpconnect-bpfcc")).arg("-h").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).starts_with("usage: tcpconnect "));

    install(&destdir, &["--uninstall"]);
    assert_eq!(tree(&destdir), Vec::<String>::new());
    std::fs::remove_dir_all(&destdir).unwrap();
}

/// Without BINARY, tools/install takes target/release/tcpconnect (what
/// `cargo build --release` makes, as the README says), even when a static
/// musl build sits next to it; without that file it fails and says how to
/// build it. Run on a copy of the tree's install inputs with stand-in
/// binaries, so the real target/ is never read.
#[test]
fn install_defaults_to_the_release_build() {
    let root = std::env::temp_dir().join(format!("tcpconnect-install-default-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let repo = root.join("repo");
    for dir in
        ["tools", "man/man8", "completions", "target/release", "target/x86_64-unknown-linux-musl/release"]
    {
        std::fs::create_dir_all(repo.join(dir)).unwrap();
    }
    for file in [
        "tools/install",
        "man/man8/tcpconnect.8",
        "completions/tcpconnect.bash",
        "completions/_tcpconnect",
        "completions/tcpconnect.fish",
    ] {
        std::fs::copy(Path::new(REPO).join(file), repo.join(file)).unwrap();
    }
    let run = || {
        output_when_not_busy(|| {
            let mut command = Command::new(repo.join("tools/install"));
            command.env("DESTDIR", root.join("dest")).env("PREFIX", "/usr").env_remove("BINARY");
            command
        })
    };
    let musl = repo.join("target/x86_64-unknown-linux-musl/release/tcpconnect");
    std::fs::write(&musl, "#!/bin/sh\necho static\n").unwrap();
    std::fs::set_permissions(&musl, std::fs::Permissions::from_mode(0o755)).unwrap();

    let out = run();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no binary at target/release/tcpconnect") && stderr.contains("cargo build --release"),
        "{stderr}"
    );
    assert!(!root.join("dest").exists());

    let release = repo.join("target/release/tcpconnect");
    std::fs::write(&release, "#!/bin/sh\necho release\n").unwrap();
    std::fs::set_permissions(&release, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "tools/install: installed target/release/tcpconnect as {}/usr/sbin/tcpconnect\n",
            root.join("dest").display()
        )
    );
    assert_eq!(
        std::fs::read(root.join("dest/usr/sbin/tcpconnect")).unwrap(),
        std::fs::read(&release).unwrap()
    );
    std::fs::remove_dir_all(&root).unwrap();
}
