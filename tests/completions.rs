//! The shell completions in completions/: each names every option that
//! `tcpconnect --help` lists, and, in each shell that is installed, loading
//! the file the way the shell loads it and completing `--att`, `--attach `
//! and `-` gives `--attach`, the `--attach` choices and exactly the options
//! of --help, for both names the files complete: `tcpconnect` and
//! `tcpconnect-rs` (the name Debian's package installs the binary under).
//! A missing shell is skipped with one line, except in CI
//! (tools/check-packaging installs bash, zsh and fish).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Output};

const BASH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/completions/tcpconnect.bash");
const ZSH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/completions/_tcpconnect");
const FISH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/completions/tcpconnect.fish");

/// The commands every completion file completes: ours, and the name
/// debian/rules installs it under.
const COMMANDS: [&str; 2] = ["tcpconnect", "tcpconnect-rs"];

fn help() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tcpconnect")).arg("--help").output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// Every option string of --help (`-p`, `--pid`, ...), read from the lines
/// that start an option's entry (indented by two spaces; the wrapped help
/// text is indented further), in the order --help lists them.
fn help_options() -> Vec<String> {
    let help = help();
    let section = help.split("optional arguments:\n").nth(1).expect("an 'optional arguments:' section");
    let mut options = Vec::new();
    for line in section.lines().take_while(|l| !l.is_empty()) {
        let Some(entry) = line.strip_prefix("  ").filter(|e| e.starts_with('-')) else { continue };
        // "-p PID, --pid PID     trace this PID only": the invocation ends at
        // the first run of two spaces.
        let invocation = entry.split("  ").next().unwrap();
        for form in invocation.split(", ") {
            options.push(form.split(' ').next().unwrap().to_owned());
        }
    }
    assert!(options.len() >= 25, "too few options read from --help: {options:?}");
    options
}

/// The choices of `--attach`, from `--attach {auto,kprobe,tracepoint}` in --help.
fn attach_choices() -> Vec<String> {
    let help = help();
    let after = help.split("--attach {").nth(1).expect("--attach {...} in --help");
    let choices: Vec<String> = after.split('}').next().unwrap().split(',').map(str::to_owned).collect();
    assert_eq!(choices, ["auto", "kprobe", "tracepoint"]);
    choices
}

/// Whether `text` has `option` as a whole word: not inside a longer option
/// (`-p` in `--pid`, `--uid` in `--uids`).
fn mentions(text: &str, option: &str) -> bool {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.match_indices(option).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + option.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

#[test]
fn every_option_of_help_is_in_every_completion_file() {
    let options = help_options();
    for file in [BASH, ZSH, FISH] {
        let text = std::fs::read_to_string(file).unwrap();
        // fish names options without their dashes: `-s p -l pid`.
        let is_fish = file.ends_with(".fish");
        let missing: Vec<_> = options
            .iter()
            .filter(|o| {
                if is_fish {
                    let (flag, name) =
                        if let Some(long) = o.strip_prefix("--") { ("-l", long) } else { ("-s", &o[1..]) };
                    !mentions(&text, &format!("{flag} {name}"))
                } else {
                    !mentions(&text, o)
                }
            })
            .collect();
        assert!(missing.is_empty(), "{file} lacks {missing:?}");
        for choice in attach_choices() {
            assert!(mentions(&text, &choice), "{file} lacks the --attach choice {choice}");
        }
    }
}

/// Whether `shell` runs here. Outside CI a missing one is skipped with one line.
fn have_shell(shell: &str) -> bool {
    match Command::new(shell).arg("-c").arg("exit 0").output() {
        Ok(out) if out.status.success() => true,
        result => {
            let why = match result {
                Ok(out) => format!("exited with {}", out.status),
                Err(e) => e.to_string(),
            };
            assert!(
                std::env::var_os("CI").is_none(),
                "{shell} is needed in CI (tools/check-packaging installs it): {why}"
            );
            eprintln!("skipping the {shell} completion checks: no {shell} ({why}); apt-get install {shell}");
            false
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tcpconnect-completions-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stdout_of(what: &str, out: Output) -> String {
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{what}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Checks one shell's completions for each of [`COMMANDS`]: `complete`
/// turns a command and a command line (the words after it, the last one
/// being completed) into the candidates the shell offers, in the order it
/// gives them.
fn check_shell(shell: &str, complete: impl Fn(&str, &str) -> Vec<String>) {
    for command in COMMANDS {
        assert_eq!(complete(command, "--att"), ["--attach"], "{shell}: {command} --att<TAB>");
        let mut choices = complete(command, "--attach ");
        choices.sort();
        assert_eq!(choices, attach_choices(), "{shell}: {command} --attach <TAB>");
        let offered: BTreeSet<String> = complete(command, "-").into_iter().collect();
        let expected: BTreeSet<String> = help_options().into_iter().collect();
        assert_eq!(offered, expected, "{shell}: {command} -<TAB> offers exactly the options of --help");
    }
}

#[test]
fn bash_completes_options_and_attach_choices() {
    if !have_shell("bash") {
        return;
    }
    check_shell("bash", |command, line| {
        // What bash hands a `complete -F` function: the words of the line
        // (COMP_WORDS, the empty word being completed included) and the
        // index of the current one; the answer is left in COMPREPLY.
        let script = r#"
            set -eu
            source "$1"
            # The function bash calls for this command, as `complete -p` shows it.
            spec=$(complete -p "$3")
            [[ $spec == "complete -F _tcpconnect $3" ]]
            read -ra COMP_WORDS <<<"$3 $2"
            [[ $2 == *" " ]] && COMP_WORDS+=("")
            COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
            COMP_LINE="$3 $2"
            COMP_POINT=${#COMP_LINE}
            _tcpconnect "$3" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
            printf '%s\n' "${COMPREPLY[@]}"
        "#;
        let out = Command::new("bash")
            .args(["--norc", "--noprofile", "-c", script, "bash", BASH, line, command])
            .output()
            .unwrap();
        stdout_of(&format!("bash completing {command} {line:?}"), out).lines().map(str::to_owned).collect()
    });
}

/// Sourced by the interactive zsh under zpty: the completion system as a
/// user's .zshrc starts it (compinit over an fpath holding `_tcpconnect`),
/// TAB bound to complete-word, and `compadd` wrapped to write every match
/// the completion functions offer to $ZT_OUT, with a marker when the
/// completion is over.
const ZSH_INIT: &str = r#"
fpath=($ZT_DIR/fpath $fpath)
autoload -Uz compinit
compinit -u -d $ZT_DIR/zcompdump
unsetopt beep
bindkey '^I' complete-word
compadd() {
  # Calls that only fill arrays (-O, -A, -D) offer nothing.
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
    builtin compadd "$@"
    return
  fi
  local -a __hits
  builtin compadd -A __hits "$@"
  (( $#__hits )) && print -rl -- $__hits >> $ZT_OUT
  builtin compadd "$@"
}
_zt_done() { print -r -- '<<done>>' >> $ZT_OUT }
comppostfuncs=(_zt_done)
"#;

/// Runs an interactive `zsh -f` in a pseudo-terminal (zsh/zpty), types the
/// line and a TAB, and prints what the completion offered, then what the
/// terminal showed.
const ZSH_DRIVE: &str = r#"
zmodload zsh/zpty
export ZT_DIR=$1 ZT_OUT=$1/out
: > $ZT_OUT
zpty z zsh -f -i
zpty -w z "source $ZT_DIR/init.zsh"
zpty -w -n z "$3 $2"$'\t'
for i in {1..200}; do
  grep -q '<<done>>' $ZT_OUT && break
  sleep 0.05
done
screen=
while zpty -r -t z chunk; do screen+=$chunk; done
zpty -d z
cat $ZT_OUT
print -r -- '<<screen>>'
print -r -- $screen
"#;

#[test]
fn zsh_completes_options_and_attach_choices() {
    if !have_shell("zsh") {
        return;
    }
    let dir = scratch("zsh");
    std::fs::create_dir(dir.join("fpath")).unwrap();
    std::fs::copy(ZSH, dir.join("fpath/_tcpconnect")).unwrap();
    std::fs::write(dir.join("init.zsh"), ZSH_INIT).unwrap();
    std::fs::write(dir.join("drive.zsh"), ZSH_DRIVE).unwrap();
    check_shell("zsh", |command, line| {
        let out = Command::new("zsh")
            .arg("-f")
            .arg(dir.join("drive.zsh"))
            .arg(&dir)
            .arg(line)
            .arg(command)
            .output()
            .unwrap();
        let text = stdout_of(&format!("zsh completing {command} {line:?}"), out);
        let (offered, screen) = text.split_once("<<screen>>\n").unwrap();
        let offered = offered.strip_suffix("<<done>>\n").unwrap_or_else(|| {
            panic!("zsh: the completion of {command} {line:?} did not finish; the terminal showed:\n{screen}")
        });
        assert!(!screen.contains("_tcpconnect:"), "zsh: errors from _tcpconnect:\n{screen}");
        offered.lines().map(str::to_owned).collect()
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fish_completes_options_and_attach_choices() {
    if !have_shell("fish") {
        return;
    }
    // fish keeps universal variables and history under these: not the user's.
    let dir = scratch("fish");
    check_shell("fish", |command, line| {
        let out = Command::new("fish")
            .args([
                "--no-config",
                "-c",
                "source $argv[1]; complete -C \"$argv[3] $argv[2]\"",
                FISH,
                line,
                command,
            ])
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CACHE_HOME", dir.join("cache"))
            .output()
            .unwrap();
        let text = stdout_of(&format!("fish completing {command} {line:?}"), out);
        // Each candidate is "word<TAB>description".
        text.lines().map(|l| l.split('\t').next().unwrap().to_owned()).collect()
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
