//! What the x86_64 and arm64 VM harnesses share: finding tools, the cargo
//! target dir, the script's output and its sections, a temp dir, the shell
//! prelude, the newc cpio writer for the initramfs, and the tracing script
//! both VM tests run with the readers of what it prints. Included by
//! vm.rs and vm_arm64.rs as their `common` module.

use std::fs;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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

/// The harness's assets from `find`, or None (with the reason printed) when
/// the test must skip: it needs root and the VM assets (tools/test installs
/// them). In CI a missing one is a failure, never a skip.
pub fn assets_or_skip<T>(test: &str, find: impl FnOnce() -> Result<T, String>) -> Option<T> {
    let ci = std::env::var_os("CI").is_some();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(!ci, "{test}: needs root, and CI must run as root");
        eprintln!("skipping {test}: needs root");
        return None;
    }
    match find() {
        Ok(assets) => Some(assets),
        Err(e) if ci => panic!("{test}: {e}"),
        Err(e) => {
            eprintln!("skipping {test}: {e}");
            None
        }
    }
}

// ------------------------------------------------------------ kernel modules

/// The module files of `wanted` (module names, e.g. "nfsv3") and their
/// dependencies under `moddir`, from its modules.dep, in load order
/// (dependencies first).
pub fn modules_with_deps(moddir: &Path, wanted: &[&str]) -> Result<Vec<PathBuf>, String> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let dep = fs::read_to_string(moddir.join("modules.dep"))
        .map_err(|e| format!("{}/modules.dep: {e}", moddir.display()))?;
    let deps: Vec<(&str, Vec<&str>)> = dep
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(m, d)| (m.trim(), d.split_whitespace().collect()))
        .collect();
    let name_of = |path: &str| -> String {
        let base = path.rsplit('/').next().unwrap_or(path);
        base.split(".ko").next().unwrap_or(base).replace('-', "_")
    };
    let mut order: Vec<String> = Vec::new();
    for module in wanted {
        let (path, needs) = deps
            .iter()
            .find(|(p, _)| name_of(p) == *module)
            .ok_or_else(|| format!("module {module} not in {}/modules.dep", moddir.display()))?;
        // modules.dep lists a module's dependencies so that loading them in
        // reverse order works (what modprobe does).
        for p in needs.iter().rev().chain(std::iter::once(path)) {
            if !order.iter().any(|o| o == p) {
                order.push(p.to_string());
            }
        }
    }
    Ok(order.into_iter().map(|p| moddir.join(p)).collect())
}

/// "ipv6" for /lib/modules/.../ipv6.ko.xz.
fn module_name(path: &Path) -> String {
    let base = path.file_name().unwrap_or_default().to_string_lossy();
    base.split(".ko").next().unwrap_or(&base).to_string()
}

/// Where module `path` goes in the guest.
fn guest_module(path: &Path) -> String {
    format!("/lib/modules/{}.ko", module_name(path))
}

/// The init lines that insmod `modules` (in that order) in the guest.
pub fn insmod_lines(modules: &[PathBuf]) -> String {
    let mut lines = String::new();
    for module in modules {
        let guest = guest_module(module);
        lines.push_str(&format!("insmod {guest} || echo 'init: insmod {guest} failed'\n"));
    }
    lines
}

/// The initramfs files of `modules`: each decompressed on the host (busybox
/// insmod may not read .ko.xz, .ko.zst or .ko.gz) at its guest path.
pub fn module_files(modules: &[PathBuf]) -> Result<Vec<(String, Vec<u8>, u32)>, String> {
    modules.iter().map(|m| Ok((guest_module(m), read_module(m)?, 0o644))).collect()
}

/// A module's bytes, decompressed.
fn read_module(path: &Path) -> Result<Vec<u8>, String> {
    let name = path.to_string_lossy();
    let tool = if name.ends_with(".ko.xz") {
        "xz"
    } else if name.ends_with(".ko.zst") {
        "zstd"
    } else if name.ends_with(".ko.gz") {
        "gzip"
    } else {
        return fs::read(path).map_err(|e| format!("{name}: {e}"));
    };
    let out = Command::new(tool)
        .arg("-dc")
        .arg(path)
        .output()
        .map_err(|e| format!("{tool} -dc {name}: {e} (apt-get install {tool})"))?;
    if !out.status.success() {
        return Err(format!("{tool} -dc {name}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(out.stdout)
}

// ------------------------------------------------------------- one VM run

/// One VM run for either harness: files to put in the initramfs, the
/// script to run, and the machine's size. `A` is the harness's own part
/// (its assets, its qemu model), which its `new` and `run` use.
pub struct Vm<A> {
    pub arch: A,
    pub files: Vec<(String, Content, u32)>,
    pub script: String,
    pub memory_mib: u32,
    pub cpus: u32,
    pub timeout: Duration,
    pub kernel_args: String,
}

impl<A> Vm<A> {
    /// 512 MiB, one CPU, no files, no script.
    pub fn with(arch: A, timeout: Duration) -> Vm<A> {
        Vm {
            arch,
            files: Vec::new(),
            script: String::new(),
            memory_mib: 512,
            cpus: 1,
            timeout,
            kernel_args: String::new(),
        }
    }

    /// Copies a host file into the VM at `guest_path` (absolute; parent
    /// directories are created) with permission bits `mode` (e.g. 0o755).
    pub fn file(mut self, guest_path: &str, host_path: &Path, mode: u32) -> Self {
        self.files.push((guest_path.to_string(), Content::Path(host_path.to_path_buf()), mode));
        self
    }

    /// Puts `data` into the VM at `guest_path` with permission bits `mode`.
    pub fn data(mut self, guest_path: &str, data: &[u8], mode: u32) -> Self {
        self.files.push((guest_path.to_string(), Content::Bytes(data.to_vec()), mode));
        self
    }

    /// The busybox sh script to run once the VM is set up (appended to any
    /// earlier `script` calls). Its stdout and stderr go to `VmOutput::console`.
    pub fn script(mut self, sh: &str) -> Self {
        self.script.push_str(sh);
        if !self.script.ends_with('\n') {
            self.script.push('\n');
        }
        self
    }

    pub fn memory_mib(mut self, mib: u32) -> Self {
        self.memory_mib = mib;
        self
    }

    /// Virtual CPUs (default 1). Under TCG each one costs a host thread.
    pub fn cpus(mut self, cpus: u32) -> Self {
        self.cpus = cpus;
        self
    }

    /// Wall time after which qemu is killed and `run` fails.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Extra kernel command line arguments.
    pub fn kernel_args(mut self, args: &str) -> Self {
        self.kernel_args.push(' ');
        self.kernel_args.push_str(args);
        self
    }

    /// The initramfs: the usual directories, /dev/console, busybox, `init`
    /// as /init, the script (after PRELUDE) as /script, then `extra` files
    /// of the harness and the run's own files.
    pub fn initramfs(
        &self,
        busybox: &Path,
        init: &str,
        extra: &[(String, Vec<u8>, u32)],
    ) -> Result<Vec<u8>, String> {
        let mut cpio = Cpio::default();
        for dir in
            ["/bin", "/sbin", "/usr/bin", "/usr/sbin", "/dev", "/proc", "/sys", "/tmp", "/root", "/etc"]
        {
            cpio.dir(dir);
        }
        cpio.node("/dev/console", 0o020600, (5, 1));
        let busybox_bytes = fs::read(busybox).map_err(|e| format!("{}: {e}", busybox.display()))?;
        cpio.file("/bin/busybox", &busybox_bytes, 0o755);
        cpio.file("/init", init.as_bytes(), 0o755);
        cpio.file("/script", format!("{PRELUDE}{}", self.script).as_bytes(), 0o755);
        for (guest, data, mode) in extra {
            cpio.file(guest, data, *mode);
        }
        for (guest, content, mode) in &self.files {
            let data = match content {
                Content::Path(p) => fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?,
                Content::Bytes(b) => b.clone(),
            };
            cpio.file(guest, &data, *mode);
        }
        Ok(cpio.finish())
    }
}

/// The guest's /init: mounts proc, sysfs, devtmpfs, tracefs (at
/// /sys/kernel/tracing), debugfs, bpffs, the cgroup v2 hierarchy at
/// /sys/fs/cgroup (as systemd does; 4.5+) and a tmpfs /tmp, runs `setup`
/// (e.g. insmod lines), brings lo up, then runs /script as root in /root
/// with its stdout and stderr on `script_tty` (put in raw mode), prints
/// `@@EXIT n@@` there and powers off.
pub fn init_script(setup: &str, script_tty: &str) -> String {
    format!(
        r#"#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin:/usr/local/bin HOME=/root TERM=dumb
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tracefs tracefs /sys/kernel/tracing || echo 'init: no tracefs'
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mount -t tmpfs tmpfs /tmp
{setup}ip link set lo up
grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 || echo 'init: no ::1 on lo'
[ -c {script_tty} ] || echo 'init: no {script_tty} for the script'
exec 3<>{script_tty}
stty raw -echo <&3
cd /root
sh /script </dev/null >&3 2>&3
status=$?
printf '\n@@EXIT %d@@\n' "$status" >&3
stty raw -echo <&3
exec 3>&-
poweroff -f
"#
    )
}

/// Where a run's qemu writes: the kernel's serial console, the script's
/// serial port, and qemu's own stderr, all in a temp dir.
pub struct QemuFiles {
    pub dir: TempDir,
    pub kernel_log: PathBuf,
    pub console: PathBuf,
    pub qemu_err: PathBuf,
}

impl QemuFiles {
    pub fn new() -> QemuFiles {
        let dir = TempDir::new("tcpconnect-vm");
        let at = |name: &str| dir.0.join(name);
        let (kernel_log, console, qemu_err) = (at("kernel.log"), at("console.log"), at("qemu.stderr"));
        QemuFiles { dir, kernel_log, console, qemu_err }
    }
}

/// One VM at a time on this machine: each TCG vCPU takes a host thread,
/// and tests run in parallel threads and test binaries. An flock on a file
/// in the target dir, held until drop (the kernel releases it when the file
/// closes, however the test ends).
struct QemuLock(fs::File);

impl QemuLock {
    fn take() -> Result<QemuLock, String> {
        let path = cargo_target_dir().join("vm-qemu.lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        // SAFETY: flock takes an fd we own (it stays open in `file`).
        while unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::Interrupted {
                return Err(format!("flock {}: {error}", path.display()));
            }
        }
        Ok(QemuLock(file))
    }
}

/// Runs `qemu` (fully set up by the harness to write to `files`) with no
/// stdin once no other VM runs (`QemuLock`), waits up to `timeout` from its
/// start (then kills it), and reads the script's output and exit status.
/// Errors when qemu fails, the VM times out or it stops before the script
/// ends (e.g. a kernel panic); the error carries the tails of the script
/// output, the kernel log and qemu's stderr.
pub fn run_qemu(
    mut qemu: Command,
    timeout: Duration,
    files: &QemuFiles,
    name: &Path,
) -> Result<VmOutput, String> {
    let _one_at_a_time = QemuLock::take()?;
    let stderr =
        fs::File::create(&files.qemu_err).map_err(|e| format!("{}: {e}", files.qemu_err.display()))?;
    let started = Instant::now();
    let mut child = qemu
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("run {}: {e}", name.display()))?;
    let exit = loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("wait for qemu: {e}"))? {
            break Some(status);
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = started.elapsed();
    let read = |p: &Path| {
        let mut bytes = Vec::new();
        let _ = fs::File::open(p).and_then(|mut f| f.read_to_end(&mut bytes));
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let console = read(&files.console);
    let kernel_log = read(&files.kernel_log);
    let qemu_err = read(&files.qemu_err);
    let tails = || {
        format!(
            "\n--- script output (tail) ---\n{}\n--- kernel log (tail) ---\n{}\n--- qemu stderr ---\n{}",
            tail(&console, 40),
            tail(&kernel_log, 40),
            qemu_err.trim_end()
        )
    };
    let Some(exit) = exit else {
        return Err(format!("VM timed out after {timeout:.0?}, qemu killed{}", tails()));
    };
    if !exit.success() {
        return Err(format!("qemu failed ({exit}){}", tails()));
    }
    let status = console
        .rfind("\n@@EXIT ")
        .and_then(|i| console[i + 8..].split_once("@@"))
        .and_then(|(n, _)| n.parse().ok())
        .ok_or_else(|| format!("VM stopped before the script finished{}", tails()))?;
    Ok(VmOutput { console, kernel_log, status, elapsed })
}

// ---------------------------------------------- the tracing script of the VM tests

/// Shell helpers for the VM tests' scripts. `trace NAME CMD...` starts the
/// tracer, waits until it is live (a header or banner on stdout, or with
/// -j -v the attach line of its last program on stderr) or has exited, makes the connects of
/// $TARGETS from the connector (whose PID it reports), runs $DURING if set,
/// stops the tracer with SIGINT and reports its stdout, stderr, exit status,
/// the connector's outcomes and kprobe_events afterwards.
///
/// `kill_run CMD...` starts a tracer, SIGKILLs it once live and reports its
/// PID and what it left in kprobe_events (`killed_pid`).
///
/// With $CONNECT set, `trace` runs that instead of `connect`: e.g.
/// `release A B` for connectors parked before the tracer started (`park A`
/// starts a connector of $TARGETS that waits until released; its PID is in
/// $P_A). `release` lets them connect one after the other; the first one
/// counts as the run's connector.
pub const TRACE_HELPERS: &str = r#"
# tracefs: its own mount (4.1+), else inside debugfs (3.10: RHEL 7).
TRACING=/sys/kernel/tracing
[ -d $TRACING/events ] || TRACING=/sys/kernel/debug/tracing
EVENTS=$TRACING/kprobe_events
# Live: the header is out, or (-j -v, no header) an attach line that ends
# the set-up. Not -L's syscalls line: the state program is loaded and
# attached after it, and under load connects made then went untraced (the
# header came later, and no line: seen on 6.12). Nor --result's kprobe on
# tcp_set_state, attached before the connect probes.
wait_header() {
  i=0
  while [ ! -s /tmp/out ] && ! grep -v -e 'attach: tracepoints syscalls:' -e '(--result)$' /tmp/err 2>/dev/null | grep -q 'attach:' &&
    [ $i -lt 600 ]; do
    if [ -n "$1" ] && ! kill -0 "$1" 2>/dev/null; then break; fi
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
park() {
  rm -f /tmp/$1.go; mkfifo /tmp/$1.go
  connector $TARGETS < /tmp/$1.go > /tmp/$1.conn 2>&1 &
  eval "P_$1=$!"
}
release() {
  C=
  : > /tmp/conn
  for _park; do
    eval "_pid=\$P_$_park"
    echo go > /tmp/$_park.go
    wait $_pid
    cat /tmp/$_park.conn >> /tmp/conn
    [ -n "$C" ] || C=$_pid
  done
}
kill_run() {
  rm -f /tmp/out /tmp/err
  "$@" > /tmp/out 2>&1 &
  K=$!
  wait_header $K
  kill -KILL $K
  wait $K
  begin killed.pid; echo $K; end killed.pid
  section killed.events cat $EVENTS
}
# A connect the kernel makes itself (CONNECT=nfs_mount): an NFSv3 mount
# whose in-kernel RPC client connects to mountd on 127.0.0.1:20048, closed.
# busybox mount hands the options to mount(2) as they are (it has no NFS
# code of its own), and addr= and mountport= leave the kernel nothing to ask
# a portmapper, so that is the only connect: rpc_ping's SOFTCONN NULL call
# fails at the refusal and mount(2) with it. The connect itself runs in
# xs_tcp_setup_socket, the transport's connect work: the workqueue
# tracepoint names the kernel thread that ran it ($name.worker: the trace
# line, then its PPID, 2 for a child of kthreadd).
NFS_OPTS=vers=3,proto=tcp,mountproto=tcp,addr=127.0.0.1,port=2049,mountport=20048,nolock,soft,timeo=10,retrans=0
WORK_EVENT=$TRACING/events/workqueue/workqueue_execute_start
nfs_mount() {
  mkdir -p /mnt
  : > $TRACING/trace
  echo 1 > $WORK_EVENT/enable
  mount -t nfs -o $NFS_OPTS 127.0.0.1:/x /mnt > /tmp/conn 2>&1 &
  C=$!
  wait $C
  echo "rc $?" >> /tmp/conn
  echo 0 > $WORK_EVENT/enable
  begin $name.worker
  grep ' function xs_tcp_setup_socket' $TRACING/trace | while read -r task _; do
    pid=${task##*-}
    comm=${task%-*}
    # The trace prints <...> for a PID its saved_cmdlines no longer holds
    # (seen once on trixie): the thread's own name then, without what
    # /proc adds to a busy worker's ("-" or "+" and its work).
    if [ "$comm" = "<...>" ]; then
      comm=$(cat /proc/$pid/comm)
      comm=${comm%%[-+]*}
    fi
    echo "$comm-$pid $(cut -d' ' -f4 /proc/$pid/stat)"
  done
  end $name.worker
}
trace() {
  name=$1; shift
  rm -f /tmp/out /tmp/err
  "$@" > /tmp/out 2> /tmp/err &
  T=$!
  wait_header $T
  ${CONNECT:-connect}
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
    /// stderr without the transport line.
    pub err: String,
    /// -v's transport line (`tcpconnect: events: ...\n`), empty without -v.
    pub transport: String,
    /// The connector's outcome per target (`ok`, `ConnectionRefused`...).
    pub conn: String,
}

/// How -v's transport line starts.
pub const TRANSPORT_PREFIX: &str = "tcpconnect: events: ";

/// -v's transport line in a guest of `cpus` possible CPUs: the BPF ring
/// buffer where the kernel has it (5.8+), else the perf event arrays and why.
pub fn transport_line(ring_buffer: bool, cpus: u32) -> String {
    if ring_buffer {
        format!("{TRANSPORT_PREFIX}BPF ring buffer (256 KiB)\n")
    } else {
        format!(
            "{TRANSPORT_PREFIX}perf event arrays (256 KiB a CPU, {cpus} CPUs; no BPF ring buffer: the kernel has \
             no BPF_MAP_TYPE_RINGBUF (upstream Linux added it in 5.8))\n"
        )
    }
}

/// Section `name` of the output; panics with the console if it is missing.
pub fn section(out: &VmOutput, name: &str) -> String {
    out.section(name).unwrap_or_else(|| panic!("no section {name} in the VM output:\n{}", out.console))
}

/// N of the tracer's whole "Possibly missed N kprobe hits" line.
fn kernel_skipped(line: &str) -> Option<u64> {
    const WHY: &str =
        " kprobe hits: the kernel skipped them (a kprobe fired while another ran on the same CPU, \
                       or kretprobe instances ran out); connects or their results may be missing";
    line.strip_prefix("Possibly missed ")?.strip_suffix(WHY)?.parse().ok()
}

/// Reads the sections `trace NAME` printed and checks what every run must
/// show: exit 0 on SIGINT and no probe of ours left behind.
pub fn trace_run(out: &VmOutput, name: &str) -> TraceRun {
    let pids = section(out, &format!("{name}.pids"));
    let mut pids = pids.split_whitespace().map(|p| p.parse::<u32>().expect("pid"));
    let (tracer_pid, connector_pid) = (pids.next().unwrap(), pids.next().unwrap());
    // -v's first line names the transport: kept apart, so the rest of
    // stderr reads the same on every transport.
    // -v's account at exit (checked by tests/exit_accounting.rs) is left out.
    // So are the kprobe hits the kernel skipped (legacy kprobes): a kprobe
    // that fires in an interrupt while another handler runs on that CPU is
    // not run, which TCG's slow handlers make likely; stdout is still
    // checked whole, so a hit that cost a line fails there.
    let mut kernel_missed = 0;
    let err: String = section(out, &format!("{name}.err"))
        .lines()
        .filter(|line| !line.starts_with("tcpconnect: account: "))
        .filter(|line| match kernel_skipped(line) {
            Some(n) => {
                kernel_missed += n;
                false
            }
            None => true,
        })
        .map(|line| format!("{line}\n"))
        .collect();
    if kernel_missed > 0 {
        eprintln!("{name}: the kernel skipped {kernel_missed} kprobe hits");
    }
    let (transport, err) = match err.strip_prefix(TRANSPORT_PREFIX) {
        Some(rest) => {
            let (line, rest) = rest.split_once('\n').unwrap_or((rest, ""));
            (format!("{TRANSPORT_PREFIX}{line}\n"), rest.to_owned())
        }
        None => (String::new(), err),
    };
    let run = TraceRun {
        tracer_pid,
        connector_pid,
        out: section(out, &format!("{name}.out")),
        err,
        transport,
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

/// What busybox mount says when the NFS mount of `nfs_mount` is refused,
/// with its exit status.
pub const NFS_REFUSED: &str = "mount: mounting 127.0.0.1:/x on /mnt failed: Connection refused\nrc 255\n";

/// The kernel threads that made the connects of `nfs_mount` in run `name`:
/// one for each run of xs_tcp_setup_socket, the transport's connect work,
/// the workqueue tracepoint saw, in order, as (PID, COMM). Mostly one; the
/// RPC client connects again after the refusal when the mount has not
/// given up yet (seen once on sid under TCG: two works, two connects, both
/// traced), and each of those connects must be printed. xs_connect
/// queues that work on the xprtiod workqueue, so a thread of its pool runs
/// it: a kworker ("kworker/u4:1" of an unbound pool from 4.19 on;
/// "kworker/1:0H" of a per-CPU high-priority pool on 4.9 and 4.14) or, when
/// the pool cannot start a worker in time (TCG is slow at it; seen once on
/// 4.14), the workqueue's rescuer thread, named after it ("xprtiod"). Either is a kernel thread, child of kthreadd (PID 2),
/// never the mount task; its PID and task->comm are what both paths
/// report (the tracepoint fires in tcp_set_state(SYN_SENT) within
/// tcp_v4_connect, the kretprobe at tcp_v4_connect's return, both in it).
pub fn nfs_workers(out: &VmOutput, name: &str) -> Vec<(u32, String)> {
    let text = section(out, &format!("{name}.worker"));
    assert!(!text.is_empty(), "{name}: no xs_tcp_setup_socket work, no connect");
    let worker = |line: &str| {
        let (task, ppid) = line.split_once(' ').unwrap_or_else(|| panic!("{name}: {text}"));
        let (comm, pid) = task.rsplit_once('-').unwrap_or_else(|| panic!("{name}: {text}"));
        let pid: u32 = pid.parse().unwrap_or_else(|_| panic!("{name}: PID in {text}"));
        assert_eq!(ppid, "2", "{name}: the connect work ran in a kernel thread:\n{text}");
        assert!(
            comm.starts_with("kworker/") || comm == "xprtiod",
            "{name}: a worker of xprtiod, or its rescuer, ran the connect:\n{text}"
        );
        (pid, comm.to_owned())
    };
    text.lines().map(worker).collect()
}

/// Run `name` of `CONNECT=nfs_mount trace NAME ...` as `trace_run` reads
/// it, checked: the mount was refused, and the connect's kernel thread
/// (`nfs_workers`) is not the mount task. Returns the run and the threads'
/// (PID, COMM), one for each connect, which the lines of stdout must carry
/// in that order.
pub fn nfs_run(out: &VmOutput, name: &str) -> (TraceRun, Vec<(u32, String)>) {
    let run = trace_run(out, name);
    assert_eq!(run.conn, NFS_REFUSED, "{name}: the mount");
    let workers = nfs_workers(out, name);
    eprintln!("{name}: the mount's PID {}, the connect works' {workers:?}:\n{}", run.connector_pid, run.out);
    for (pid, _) in &workers {
        assert_ne!(*pid, run.connector_pid, "{name}: the connect is the worker's, not the mount task's");
    }
    (run, workers)
}

/// Output lines without their PID column, to compare runs of different
/// connector processes.
pub fn without_pid(text: &str) -> Vec<String> {
    text.lines().map(|l| l[6..].to_owned()).collect()
}

/// What `-v` says on the kprobe path (PMU) when BTF gave the IPv6 offsets.
pub fn kprobe_attach_from_btf(offsets: (u32, u32)) -> String {
    format!(
        "tcpconnect: struct sock_common: skc_v6_daddr at {}, skc_v6_rcv_saddr at {} (from BTF)\n{PMU_ATTACH}",
        offsets.0, offsets.1
    )
}

/// kprobe_events while legacy probes of tracer `pid` are in place on both
/// connect functions.
pub fn legacy_probe_events(pid: u32) -> String {
    legacy_probe_listing(pid, "r4096")
}

/// The same as the kernel lists it, with `retprobe` for the return probes'
/// prefix: the 4.9, 4.14 and 4.19 kernels of ../shared list `r4096:`
/// (maxactive) as `r:`.
pub fn legacy_probe_listing(pid: u32, retprobe: &str) -> String {
    format!(
        "{retprobe}:tcpconnect/r{pid}_tcp_v4_connect tcp_v4_connect\n\
         p:tcpconnect/p{pid}_tcp_v4_connect tcp_v4_connect\n\
         {retprobe}:tcpconnect/r{pid}_tcp_v6_connect tcp_v6_connect\n\
         p:tcpconnect/p{pid}_tcp_v6_connect tcp_v6_connect\n"
    )
}

/// The PID of the tracer `kill_run` SIGKILLed (its probes are in section
/// `killed.events`).
pub fn killed_pid(out: &VmOutput) -> u32 {
    section(out, "killed.pid").trim().parse().expect("killed.pid")
}

/// What a run says first after sweeping the legacy probes of killed tracer
/// `pid`.
pub fn swept_line(pid: u32) -> String {
    format!(
        "tcpconnect: removed stale kprobe events of killed runs: r{pid}_tcp_v4_connect p{pid}_tcp_v4_connect \
         r{pid}_tcp_v6_connect p{pid}_tcp_v6_connect\n"
    )
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
