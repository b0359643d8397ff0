//! What the x86_64 and arm64 VM harnesses share: finding tools, the cargo
//! target dir, the script's output and its sections, a temp dir, the shell
//! prelude, the newc cpio writer for the initramfs, and the tracing script
//! both VM tests run with the readers of what it prints. Included by
//! vm.rs and vm_arm64.rs as their `common` module.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/bin", "/usr/local/bin"].iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The rustc next to the cargo running the tests.
pub fn rustc() -> PathBuf {
    if let Some(r) = std::env::var_os("RUSTC") {
        return PathBuf::from(r);
    }
    let sibling = Path::new(env!("CARGO")).with_file_name("rustc");
    if sibling.is_file() {
        sibling
    } else {
        PathBuf::from("rustc")
    }
}

/// The target dir of the running test: CARGO_BIN_EXE_tcpconnect is
/// <target>/<profile>/tcpconnect, or <target>/<triple>/<profile>/tcpconnect
/// with --target. Cargo puts CACHEDIR.TAG at the root of the target dir.
pub fn cargo_target_dir() -> PathBuf {
    let profile_dir = Path::new(env!("CARGO_BIN_EXE_tcpconnect")).parent().expect("bin has a parent");
    let up1 = profile_dir.parent().expect("profile dir has a parent");
    match up1.parent() {
        Some(up2) if !up1.join("CACHEDIR.TAG").exists() && up2.join("CACHEDIR.TAG").exists() => {
            up2.to_path_buf()
        }
        _ => up1.to_path_buf(),
    }
}

pub enum Content {
    Path(PathBuf),
    Bytes(Vec<u8>),
}

/// What a VM run printed.
#[derive(Debug)]
pub struct VmOutput {
    /// Raw bytes (lossily UTF-8) the script wrote to stdout and stderr (ttyS1),
    /// with the section markers and the final `@@EXIT n@@` line.
    pub console: String,
    /// The kernel log (ttyS0), plus anything init printed before the script.
    pub kernel_log: String,
    /// The script's exit status.
    pub status: i32,
    /// Wall time from starting qemu to its exit.
    pub elapsed: Duration,
}

impl VmOutput {
    /// The bytes the script printed between `@@BEGIN name@@\n` and
    /// `@@END name@@\n` (the first such section), exactly.
    pub fn section(&self, name: &str) -> Option<String> {
        let begin = format!("@@BEGIN {name}@@\n");
        let end = format!("@@END {name}@@\n");
        let start = self.console.find(&begin)? + begin.len();
        let len = self.console[start..].find(&end)?;
        Some(self.console[start..start + len].to_string())
    }
}

static RUNS: AtomicUsize = AtomicUsize::new(0);

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = RUNS.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos}", std::process::id()));
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Shell functions defined before the user's script.
pub const PRELUDE: &str = r#"begin() { printf '@@BEGIN %s@@\n' "$1"; }
end() { printf '@@END %s@@\n' "$1"; }
section() { _section_name=$1; shift; begin "$_section_name"; "$@"; _section_status=$?; end "$_section_name"; return $_section_status; }
"#;

pub fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A newc ("070701") cpio archive, as the kernel unpacks for an initramfs.
#[derive(Default)]
pub struct Cpio {
    out: Vec<u8>,
    ino: u32,
    dirs: Vec<String>,
}

impl Cpio {
    pub fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        self.ino += 1;
        let name = name.trim_start_matches('/');
        let nlink = if mode & 0o170000 == 0o040000 { 2 } else { 1 };
        let fields = [
            self.ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime
            data.len() as u32,
            0, // devmajor
            0, // devminor
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0, // check
        ];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while self.out.len() % 4 != 0 {
            self.out.push(0);
        }
    }

    /// A directory and its missing parents.
    pub fn dir(&mut self, path: &str) {
        let mut so_far = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            so_far.push('/');
            so_far.push_str(part);
            if !self.dirs.contains(&so_far) {
                self.dirs.push(so_far.clone());
                let name = so_far.clone();
                self.entry(&name, 0o040755, (0, 0), &[]);
            }
        }
    }

    fn parent(&mut self, path: &str) {
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent);
        }
    }

    pub fn file(&mut self, path: &str, data: &[u8], mode: u32) {
        assert!(path.starts_with('/'), "guest path {path} must be absolute");
        self.parent(path);
        self.entry(path, 0o100000 | (mode & 0o7777), (0, 0), data);
    }

    pub fn node(&mut self, path: &str, mode: u32, rdev: (u32, u32)) {
        self.parent(path);
        self.entry(path, mode, rdev, &[]);
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        self.out
    }
}

// ---------------------------------------------- the tracing script of the VM tests

/// Shell helpers for the VM tests' scripts. `trace NAME CMD...` starts the
/// tracer, waits until it is live (a header or banner on stdout, or with
/// -j -v the attach line on stderr), makes the connects of $TARGETS from the
/// connector (whose PID it reports), runs $DURING if set, stops the tracer
/// with SIGINT and reports its stdout, stderr, exit status, the connector's
/// outcomes and kprobe_events afterwards.
pub const TRACE_HELPERS: &str = r#"
EVENTS=/sys/kernel/tracing/kprobe_events
wait_header() {
  i=0
  while [ ! -s /tmp/out ] && ! grep -q 'attach:' /tmp/err 2>/dev/null && [ $i -lt 600 ]; do
    sleep 0.1; i=$((i+1))
  done
}
connect() {
  rm -f /tmp/go; mkfifo /tmp/go
  connector $TARGETS < /tmp/go > /tmp/conn 2>&1 &
  C=$!
  echo go > /tmp/go
  wait $C
}
trace() {
  name=$1; shift
  rm -f /tmp/out /tmp/err
  "$@" > /tmp/out 2> /tmp/err &
  T=$!
  wait_header
  connect
  sleep 0.5
  if [ -n "$DURING" ]; then section $name.during sh -c "$DURING"; fi
  kill -INT $T
  wait $T
  rc=$?
  begin $name.pids; echo "$T $C"; end $name.pids
  section $name.out cat /tmp/out
  section $name.err cat /tmp/err
  section $name.conn cat /tmp/conn
  begin $name.rc; echo $rc; end $name.rc
  section $name.events_after cat $EVENTS
}
"#;

/// What -v says when the kprobe path attaches, per kprobe API.
pub const PMU_ATTACH: &str =
    "tcpconnect: attach: kprobe+kretprobe (kprobe PMU) on tcp_v4_connect, tcp_v6_connect\n";
pub const LEGACY_ATTACH: &str =
    "tcpconnect: attach: kprobe+kretprobe (tracefs kprobe_events) on tcp_v4_connect, tcp_v6_connect\n";

/// One traced run (`trace NAME ...`) as the host sees it.
pub struct TraceRun {
    pub tracer_pid: u32,
    pub connector_pid: u32,
    pub out: String,
    pub err: String,
    /// The connector's outcome per target (`ok`, `ConnectionRefused`...).
    pub conn: String,
}

/// Section `name` of the output; panics with the console if it is missing.
pub fn section(out: &VmOutput, name: &str) -> String {
    out.section(name).unwrap_or_else(|| panic!("no section {name} in the VM output:\n{}", out.console))
}

/// Reads the sections `trace NAME` printed and checks what every run must
/// show: exit 0 on SIGINT and no probe of ours left behind.
pub fn trace_run(out: &VmOutput, name: &str) -> TraceRun {
    let pids = section(out, &format!("{name}.pids"));
    let mut pids = pids.split_whitespace().map(|p| p.parse::<u32>().expect("pid"));
    let (tracer_pid, connector_pid) = (pids.next().unwrap(), pids.next().unwrap());
    let run = TraceRun {
        tracer_pid,
        connector_pid,
        out: section(out, &format!("{name}.out")),
        err: section(out, &format!("{name}.err")),
        conn: section(out, &format!("{name}.conn")),
    };
    assert_eq!(section(out, &format!("{name}.rc")), "0\n", "{name}: exit status; stderr:\n{}", run.err);
    assert_eq!(
        section(out, &format!("{name}.events_after")),
        "",
        "{name}: kprobe_events not clean after SIGINT"
    );
    run
}

/// "skc_v6_daddr at 56, skc_v6_rcv_saddr at 72 (from BTF)" → (56, 72).
pub fn offsets(err: &str, source: &str) -> (u32, u32) {
    let line = err
        .lines()
        .find(|l| l.starts_with("tcpconnect: struct sock_common: ") && l.ends_with(&format!("({source})")))
        .unwrap_or_else(|| panic!("no offsets line {source} in:\n{err}"));
    let numbers: Vec<u32> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .filter(|&n| n != 6) // the 6 of "skc_v6_..."
        .collect();
    assert_eq!(numbers.len(), 2, "{line}");
    (numbers[0], numbers[1])
}
