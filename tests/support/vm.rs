//! Boots a Debian cloud kernel (or a given bzImage: `VmAssets::with_kernel`)
//! under qemu (TCG, no KVM) with a busybox initramfs written here, runs a
//! shell script in it and returns what the script printed. For the paths
//! the host kernel cannot exercise (kprobes, old kernels).
//!
//! Include it from a test file with
//!   #[path = "support/vm.rs"]
//!   mod vm;
//!
//! Two serial ports: ttyS0 carries the kernel log, ttyS1 (put in raw mode)
//! carries the script's stdout and stderr, so kernel messages never
//! interleave with the script's bytes. In the script, `section NAME CMD...`
//! or `begin NAME` ... `end NAME` print markers that `VmOutput::section`
//! finds; the text between them comes back byte for byte.
//!
//! The guest: kernel command line `console=ttyS0 loglevel=5 panic=-1
//! oops=panic` (a panic or oops ends the run at once: `run` fails with the
//! kernel log), proc, sysfs, devtmpfs, tracefs (/sys/kernel/tracing), debugfs,
//! bpffs (/sys/fs/bpf) and a tmpfs /tmp mounted, lo up (127.0.0.1 and ::1),
//! busybox applets in /bin, PATH=/bin:/sbin:/usr/bin:/usr/sbin:/usr/local/bin,
//! the script run as root in /root with stdin /dev/null.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[path = "vm_common.rs"]
mod common;

pub use common::cargo_target_dir;
pub use common::VmOutput;
use common::{find_in_path, insmod_lines, module_files, modules_with_deps, run_qemu, rustc, QemuFiles};
// The tracing script and its readers, for the test files that run it.
#[allow(unused_imports)]
pub use common::{
    killed_pid, kprobe_attach_from_btf, legacy_probe_events, legacy_probe_listing, nfs_run, nfs_workers,
    offsets, section, swept_line, trace_run, transport_line, without_pid, TraceRun, LEGACY_ATTACH,
    NFS_REFUSED, PMU_ATTACH, TRACE_HELPERS, TRANSPORT_PREFIX,
};

const MUSL: &str = "x86_64-unknown-linux-musl";

/// Kernel options the VM tests rely on that must be built in.
const BUILT_IN: &[&str] = &[
    "BLK_DEV_INITRD",
    "DEVTMPFS",
    "SERIAL_8250_CONSOLE",
    "BPF_SYSCALL",
    "BPF_EVENTS",
    "PERF_EVENTS",
    "KPROBES",
    "KPROBE_EVENTS",
    "DEBUG_INFO_BTF",
    "FTRACE",
    "INET",
];
/// Kernel options the tests need that may be modules: (option, module name).
/// The NFS client makes the connect the kernel makes itself (`nfs_mount` in
/// vm_common.rs); Debian's cloud kernels have it as modules.
const BUILT_IN_OR_MODULE: &[(&str, &str)] =
    &[("IPV6", "ipv6"), ("UNIX", "unix"), ("NFS_FS", "nfs"), ("NFS_V3", "nfsv3")];

/// The assets, or None when the test must skip (see `common::assets_or_skip`).
pub fn assets_or_skip(test: &str) -> Option<VmAssets> {
    common::assets_or_skip(test, VmAssets::find)
}

/// The assets for booting `kernel` (see `VmAssets::with_kernel`), or None
/// when the test must skip (see `common::assets_or_skip`).
pub fn kernel_assets_or_skip(test: &str, kernel: &Path, release: &str) -> Option<VmAssets> {
    common::assets_or_skip(test, || VmAssets::with_kernel(kernel, release))
}

/// The assets for booting the Debian kernel unpacked under `root` (see
/// `VmAssets::cached_kernel`), or None when the test must skip (see
/// `common::assets_or_skip`: in CI a missing kernel is a failure).
pub fn cached_kernel_assets_or_skip(test: &str, root: &Path, hint: &str) -> Option<VmAssets> {
    common::assets_or_skip(test, || VmAssets::cached_kernel(root, hint))
}

/// What booting a VM takes from the host.
#[derive(Clone, Debug)]
pub struct VmAssets {
    /// /boot/vmlinuz-<release> of linux-image-cloud-amd64, the image
    /// given to `with_kernel`, or the one under `cached_kernel`'s root.
    pub kernel: PathBuf,
    /// Its release, e.g. "6.1.0-56-cloud-amd64" (what `uname -r` prints in the VM).
    pub release: String,
    /// A statically linked busybox (busybox-static).
    pub busybox: PathBuf,
    /// qemu-system-x86_64 (qemu-system-x86).
    pub qemu: PathBuf,
    /// Kernel modules to insmod at boot, in load order (dependencies first).
    /// Host paths, possibly compressed (.ko.xz/.ko.zst/.ko.gz); empty when
    /// everything needed is built in.
    pub modules: Vec<PathBuf>,
}

impl VmAssets {
    /// Finds the kernel, busybox and qemu, checks the kernel configuration and
    /// that rustc has the musl target. The error names what is missing and
    /// how to install it.
    pub fn find() -> Result<VmAssets, String> {
        let kernel = find_cloud_kernel();
        let (qemu, busybox, mut missing) = host_tools();
        if kernel.is_none() {
            missing.insert(
                0,
                "/boot/vmlinuz-*-cloud-amd64 (apt-get install linux-image-cloud-amd64)".to_string(),
            );
        }
        let (kernel, release) = match kernel {
            Some(k) => k,
            None => return Err(format!("VM assets missing: {}", missing.join("; "))),
        };
        let config = PathBuf::from(format!("/boot/config-{release}"));
        let moddir = PathBuf::from(format!("/lib/modules/{release}"));
        let hint = "apt-get install --reinstall linux-image-cloud-amd64";
        let modules = match needed_modules(&release, &config, &moddir, hint) {
            Ok(m) => m,
            Err(e) => {
                missing.push(e);
                Vec::new()
            }
        };
        if !missing.is_empty() {
            return Err(format!("VM assets missing: {}", missing.join("; ")));
        }
        Ok(VmAssets { kernel, release, busybox, qemu: qemu.unwrap(), modules })
    }

    /// A kernel image with everything the tests need built in (no modules
    /// to load, no configuration to check), e.g. one of ../shared/kernels;
    /// `release` is what `uname -r` prints in the VM. Errors as `find` does
    /// when the host lacks qemu, busybox or the musl target.
    pub fn with_kernel(kernel: &Path, release: &str) -> Result<VmAssets, String> {
        let (qemu, busybox, missing) = host_tools();
        match qemu {
            Some(qemu) if missing.is_empty() => Ok(VmAssets {
                kernel: kernel.to_path_buf(),
                release: release.to_string(),
                busybox,
                qemu,
                modules: Vec::new(),
            }),
            _ => Err(format!("VM assets missing: {}", missing.join("; "))),
        }
    }

    /// A Debian kernel unpacked under `root` (as tools/setup-kernels does):
    /// the newest `root`/boot/vmlinuz-<release>, its configuration checked
    /// in `root`/boot/config-<release> as `find` checks the installed one,
    /// and the modules it needs from `root`/lib/modules/<release>. The
    /// error says what is missing (`hint`: how to get the kernel).
    pub fn cached_kernel(root: &Path, hint: &str) -> Result<VmAssets, String> {
        let boot = root.join("boot");
        let Some((kernel, release)) = newest_kernel(&boot, |_| true) else {
            return Err(format!("no kernel: no {}/vmlinuz-* ({hint})", boot.display()));
        };
        let (qemu, busybox, mut missing) = host_tools();
        let config = boot.join(format!("config-{release}"));
        let moddir = root.join("lib/modules").join(&release);
        let modules = needed_modules(&release, &config, &moddir, hint).unwrap_or_else(|e| {
            missing.push(e);
            Vec::new()
        });
        match qemu {
            Some(qemu) if missing.is_empty() => Ok(VmAssets { kernel, release, busybox, qemu, modules }),
            _ => Err(format!("VM assets missing: {}", missing.join("; "))),
        }
    }
}

/// qemu and a static busybox on the host, and what is missing for a VM
/// run besides the kernel (with how to install it).
fn host_tools() -> (Option<PathBuf>, PathBuf, Vec<String>) {
    let mut missing = Vec::new();
    let qemu = find_in_path("qemu-system-x86_64");
    if qemu.is_none() {
        missing.push("qemu-system-x86_64 (apt-get install qemu-system-x86)".to_string());
    }
    let busybox = PathBuf::from("/bin/busybox");
    match fs::read(&busybox) {
        Ok(bytes) => match elf_is_static(&bytes) {
            Ok(true) => {}
            Ok(false) => missing.push(
                "a static /bin/busybox, this one is dynamically linked (apt-get install busybox-static)"
                    .to_string(),
            ),
            Err(e) => missing.push(format!("a usable /bin/busybox: {e} (apt-get install busybox-static)")),
        },
        Err(_) => missing.push("/bin/busybox (apt-get install busybox-static)".to_string()),
    }
    if let Err(e) = musl_target_installed() {
        missing.push(e);
    }
    (qemu, busybox, missing)
}

/// The newest /boot/vmlinuz-*-cloud-amd64 and its release.
fn find_cloud_kernel() -> Option<(PathBuf, String)> {
    newest_kernel(Path::new("/boot"), |r| r.ends_with("-cloud-amd64"))
}

/// The newest `boot`/vmlinuz-<release> whose release is `wanted`, and its
/// release.
fn newest_kernel(boot: &Path, wanted: impl Fn(&str) -> bool) -> Option<(PathBuf, String)> {
    let mut found: Vec<String> = fs::read_dir(boot)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_prefix("vmlinuz-").map(str::to_string))
        .filter(|r| wanted(r))
        .collect();
    found.sort_by_key(|r| version_key(r));
    let release = found.pop()?;
    Some((boot.join(format!("vmlinuz-{release}")), release))
}

/// Orders "6.1.0-9" before "6.1.0-10".
fn version_key(s: &str) -> Vec<(u64, String)> {
    s.split(['.', '-']).map(|p| (p.parse().unwrap_or(0), p.to_string())).collect()
}

fn musl_target_installed() -> Result<(), String> {
    let hint = format!("the {MUSL} Rust target (rustup target add {MUSL})");
    let out = Command::new(rustc())
        .args(["--print", "target-libdir", "--target", MUSL])
        .output()
        .map_err(|e| format!("{hint}: running rustc: {e}"))?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let has_std = fs::read_dir(&dir).is_ok_and(|d| {
        d.filter_map(Result::ok).any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
    });
    if out.status.success() && has_std {
        Ok(())
    } else {
        Err(hint)
    }
}

/// Reads kernel `release`'s configuration `config_path`: fails when
/// something needed is off, and returns the module files (with
/// dependencies, from `moddir`/modules.dep) of options that are =m. `hint`
/// says how to get the kernel's files.
fn needed_modules(
    release: &str,
    config_path: &Path,
    moddir: &Path,
    hint: &str,
) -> Result<Vec<PathBuf>, String> {
    let config =
        fs::read_to_string(config_path).map_err(|e| format!("{}: {e} ({hint})", config_path.display()))?;
    let value = |opt: &str| -> Option<String> {
        let key = format!("CONFIG_{opt}=");
        config.lines().find_map(|l| l.strip_prefix(&key)).map(str::to_string)
    };
    let mut off = Vec::new();
    for opt in BUILT_IN {
        if value(opt).as_deref() != Some("y") {
            off.push(format!("CONFIG_{opt}=y"));
        }
    }
    let mut wanted = Vec::new();
    for (opt, module) in BUILT_IN_OR_MODULE {
        match value(opt).as_deref() {
            Some("y") => {}
            Some("m") => wanted.push(*module),
            _ => off.push(format!("CONFIG_{opt}=y or m")),
        }
    }
    if !off.is_empty() {
        return Err(format!("kernel {release} lacks {}", off.join(", ")));
    }
    modules_with_deps(moddir, &wanted)
}

/// Whether a 64-bit little-endian ELF file has no PT_INTERP program header,
/// i.e. runs without a dynamic loader (static or static-pie).
pub fn elf_is_static(bytes: &[u8]) -> Result<bool, String> {
    let u16_at = |o: usize| bytes.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| bytes.get(o..o + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()));
    let u64_at = |o: usize| bytes.get(o..o + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()));
    if bytes.get(..4) != Some(b"\x7fELF") {
        return Err("not an ELF file".into());
    }
    if bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let truncated = || "truncated ELF header".to_string();
    let phoff = u64_at(0x20).ok_or_else(truncated)? as usize;
    let phentsize = u16_at(0x36).ok_or_else(truncated)? as usize;
    let phnum = u16_at(0x38).ok_or_else(truncated)? as usize;
    const PT_INTERP: u32 = 3;
    for i in 0..phnum {
        let p_type = u32_at(phoff + i * phentsize).ok_or("truncated program headers")?;
        if p_type == PT_INTERP {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The crate's binaries linked statically for the VM.
#[derive(Clone, Debug)]
pub struct StaticBinaries {
    pub tcpconnect: PathBuf,
    pub connector: PathBuf,
}

/// Builds the `tcpconnect` bin and the `connector` example for
/// x86_64-unknown-linux-musl in release mode, in the target dir of the
/// running test (once per test process), and checks they are static.
pub fn build_static_binaries() -> StaticBinaries {
    static BUILT: OnceLock<StaticBinaries> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let target_dir = cargo_target_dir();
            let started = Instant::now();
            let status = Command::new(env!("CARGO"))
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .env("CARGO_TARGET_DIR", &target_dir)
                .args(["build", "--quiet", "--release", "--target", MUSL])
                .args(["--bin", "tcpconnect", "--example", "connector"])
                .status()
                .expect("run cargo to build the static binaries");
            assert!(
                status.success(),
                "cargo build --release --target {MUSL} failed (is the target installed? rustup target add {MUSL})"
            );
            eprintln!("vm: static binaries built in {:.1}s", started.elapsed().as_secs_f64());
            let out = target_dir.join(MUSL).join("release");
            let bins = StaticBinaries {
                tcpconnect: out.join("tcpconnect"),
                connector: out.join("examples").join("connector"),
            };
            for path in [&bins.tcpconnect, &bins.connector] {
                let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                match elf_is_static(&bytes) {
                    Ok(true) => {}
                    Ok(false) => panic!("{} has a PT_INTERP header: not static", path.display()),
                    Err(e) => panic!("{}: {e}", path.display()),
                }
            }
            bins
        })
        .clone()
}

/// The x86_64 harness's part of a run: its assets.
pub struct X86 {
    assets: VmAssets,
}

/// One VM run: files to put in the initramfs and the script to run (the
/// builder methods are `common::Vm`'s).
pub type Vm = common::Vm<X86>;

impl Vm {
    pub fn new(assets: &VmAssets) -> Vm {
        common::Vm::with(X86 { assets: assets.clone() }, Duration::from_secs(90))
    }

    /// The script's channel is the second serial port (ttyS1); the first
    /// carries the kernel log. Modules the kernel lacks are loaded first.
    fn init_script(&self) -> String {
        common::init_script(&insmod_lines(&self.arch.assets.modules), "/dev/ttyS1")
    }

    /// Boots the VM, runs the script, and powers off. Errors when qemu fails,
    /// the VM does not finish within the timeout (qemu is killed), or it
    /// stops before the script ends (e.g. a kernel panic); the error carries
    /// the tails of the script output and of the kernel log.
    pub fn run(self) -> Result<VmOutput, String> {
        let files = QemuFiles::new();
        let assets = &self.arch.assets;
        let extra = module_files(&assets.modules)?;
        let initrd = files.dir.0.join("initramfs.cpio");
        let image = self.initramfs(&assets.busybox, &self.init_script(), &extra)?;
        fs::write(&initrd, image).map_err(|e| format!("{}: {e}", initrd.display()))?;
        let append = format!("console=ttyS0 loglevel=5 panic=-1 oops=panic{}", self.kernel_args);
        let mut qemu = Command::new(&assets.qemu);
        qemu.args(["-nodefaults", "-no-user-config", "-no-reboot", "-display", "none"])
            // One host thread runs every vCPU: with a thread per vCPU, TCG lets a
            // vCPU run code translated before another vCPU patched it, and
            // 7.x kernels, which patch text with int3 on every CPU, oopsed on
            // an int3 already gone (CI: sid panicked in two boots in a row).
            .args(["-machine", "pc", "-accel", "tcg,thread=single", "-cpu", "max"])
            .args(["-m", &self.memory_mib.to_string(), "-smp", &self.cpus.to_string()])
            .arg("-kernel")
            .arg(&assets.kernel)
            .arg("-initrd")
            .arg(&initrd)
            .args(["-append", &append])
            .arg("-serial")
            .arg(format!("file:{}", files.kernel_log.display()))
            .arg("-serial")
            .arg(format!("file:{}", files.console.display()));
        run_qemu(qemu, self.timeout, &files, &assets.qemu)
    }
}
