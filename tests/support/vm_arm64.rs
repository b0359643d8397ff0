//! Boots Debian's arm64 cloud kernel under qemu-system-aarch64 (TCG, `virt`
//! machine) with a busybox initramfs written here, runs a shell script in it
//! and returns what the script printed: the aarch64 build of tcpconnect
//! against a real arm64 kernel, from an x86_64 host. The arm64 counterpart
//! of support/vm.rs, with the same script conventions.
//!
//! Include it from a test file with
//!   #[path = "support/vm_arm64.rs"]
//!   mod vm_arm64;
//!
//! Assets: tools/setup-arm64 installs qemu-system-arm, unpacks the kernel
//! package (linux-image-*-cloud-arm64:arm64) and busybox-static:arm64 under
//! $TCPCONNECT_ARM64_CACHE (default /var/cache/tcpconnect-arm64) and adds
//! the aarch64-unknown-linux-musl Rust target. The binaries are linked by
//! rust-lld, which comes with the toolchain (no cross gcc needed).
//!
//! Two channels, as on x86_64: `virt` has one PL011 UART (ttyAMA0), which
//! carries the kernel log; the script's stdout and stderr go to a 16550 on
//! PCI (`-device pci-serial`, the guest's ttyS0, CONFIG_SERIAL_8250_PCI=y),
//! put in raw mode, so kernel messages never interleave with the script's
//! bytes. In the script, `section NAME CMD...` or `begin NAME` ... `end
//! NAME` print markers that `VmOutput::section` finds; the text between them
//! comes back byte for byte.
//!
//! The guest: kernel command line `console=ttyAMA0 loglevel=5 panic=-1
//! oops=panic`, proc, sysfs, devtmpfs, tracefs (/sys/kernel/tracing),
//! debugfs, bpffs and a tmpfs /tmp mounted, lo up (127.0.0.1 and ::1),
//! busybox applets in /bin, the script run as root in /root with stdin
//! /dev/null. Everything the tests need is built into this kernel but the
//! NFS client (the connect the kernel makes itself), whose modules and
//! their dependencies (modules.dep) are loaded at boot.
#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[path = "vm_common.rs"]
mod common;

pub use common::VmOutput;
use common::{
    cargo_target_dir, find_in_path, insmod_lines, module_files, modules_with_deps, run_qemu, rustc, QemuFiles,
};
// The tracing script and its readers, for the test files that run it.
#[allow(unused_imports)]
pub use common::{
    killed_pid, kprobe_attach_from_btf, legacy_probe_events, legacy_probe_listing, nfs_run, nfs_workers,
    offsets, section, swept_line, trace_run, without_pid, TraceRun, LEGACY_ATTACH, NFS_REFUSED, PMU_ATTACH,
    TRACE_HELPERS,
};

pub const MUSL: &str = "aarch64-unknown-linux-musl";
/// e_machine of arm64 ELF files.
const EM_AARCH64: u16 = 183;
const DEFAULT_CACHE: &str = "/var/cache/tcpconnect-arm64";
const SETUP: &str = "run tools/setup-arm64 as root";

/// Kernel options the VM relies on, which must be built in.
const BUILT_IN: &[&str] = &[
    "BLK_DEV_INITRD",
    "DEVTMPFS",
    // The kernel log on the PL011 of `virt`, the script on a PCI 16550.
    "SERIAL_AMBA_PL011_CONSOLE",
    "PCI_HOST_GENERIC",
    "SERIAL_8250_PCI",
    "BPF_SYSCALL",
    "BPF_EVENTS",
    "PERF_EVENTS",
    "KPROBES",
    "KPROBE_EVENTS",
    "DEBUG_INFO_BTF",
    "FTRACE",
    "INET",
    "IPV6",
    "UNIX",
];
/// Kernel options the tests need that may be modules: (option, module name).
/// The NFS client makes the connect the kernel makes itself (`nfs_mount`).
const BUILT_IN_OR_MODULE: &[(&str, &str)] = &[("NFS_FS", "nfs"), ("NFS_V3", "nfsv3")];

/// The arm64 assets (tools/setup-arm64 installs them), or None when the
/// test must skip (see `common::assets_or_skip`).
pub fn assets_or_skip(test: &str) -> Option<VmAssets> {
    common::assets_or_skip(test, VmAssets::find)
}

/// What booting an arm64 VM takes from the host.
#[derive(Clone, Debug)]
pub struct VmAssets {
    /// <cache>/kernel/boot/vmlinuz-<release>: an arm64 Image.
    pub kernel: PathBuf,
    /// Its release, e.g. "6.1.0-56-cloud-arm64" (what `uname -r` prints in the VM).
    pub release: String,
    /// <cache>/busybox/bin/busybox, static, for arm64.
    pub busybox: PathBuf,
    /// qemu-system-aarch64.
    pub qemu: PathBuf,
    /// rust-lld of the toolchain running the tests: the aarch64 linker.
    pub linker: PathBuf,
    /// Kernel modules to insmod at boot, in load order (dependencies
    /// first), from <cache>/kernel/lib/modules/<release>.
    pub modules: Vec<PathBuf>,
}

impl VmAssets {
    /// Finds the kernel, busybox, qemu and the linker, checks the kernel's
    /// configuration and image format and that rustc has the aarch64 musl
    /// target. The error names everything missing.
    pub fn find() -> Result<VmAssets, String> {
        let cache = std::env::var_os("TCPCONNECT_ARM64_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE));
        let mut missing = Vec::new();
        let kernel = find_kernel(&cache);
        if let Err(e) = &kernel {
            missing.push(e.clone());
        }
        let qemu = find_in_path("qemu-system-aarch64");
        if qemu.is_none() {
            missing.push("qemu-system-aarch64 (package qemu-system-arm)".to_string());
        }
        let busybox = cache.join("busybox/bin/busybox");
        match fs::read(&busybox) {
            Ok(bytes) => {
                if let Err(e) = check_static_aarch64(&bytes) {
                    missing.push(format!("{}: {e}", busybox.display()));
                }
            }
            Err(e) => missing.push(format!("{} (busybox-static:arm64): {e}", busybox.display())),
        }
        if let Err(e) = musl_target_installed() {
            missing.push(e);
        }
        let linker = find_rust_lld();
        if let Err(e) = &linker {
            missing.push(e.clone());
        }
        if !missing.is_empty() {
            return Err(format!("arm64 VM assets missing ({SETUP}): {}", missing.join("; ")));
        }
        let (kernel, release, modules) = kernel.unwrap();
        Ok(VmAssets { kernel, release, busybox, qemu: qemu.unwrap(), linker: linker.unwrap(), modules })
    }
}

/// The one <cache>/kernel/boot/vmlinuz-*-cloud-arm64, checked: an arm64
/// Image (what qemu's -kernel boots; tools/setup-arm64 unpacks compressed
/// ones) whose config has everything in BUILT_IN, and BUILT_IN_OR_MODULE
/// built in or as modules; with its release and the module files to load.
fn find_kernel(cache: &Path) -> Result<(PathBuf, String, Vec<PathBuf>), String> {
    let boot = cache.join("kernel/boot");
    let mut found: Vec<String> = fs::read_dir(&boot)
        .map_err(|e| format!("{} (linux-image-cloud-arm64:arm64): {e}", boot.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_prefix("vmlinuz-").map(str::to_string))
        .filter(|r| r.ends_with("-cloud-arm64"))
        .collect();
    found.sort();
    let release = found.pop().ok_or_else(|| format!("no vmlinuz-*-cloud-arm64 in {}", boot.display()))?;
    let kernel = boot.join(format!("vmlinuz-{release}"));
    // The arm64 boot header: "ARMd" at byte 56 (Documentation/arm64/booting.rst).
    let mut header = [0u8; 64];
    fs::File::open(&kernel)
        .and_then(|mut f| f.read_exact(&mut header))
        .map_err(|e| format!("{}: {e}", kernel.display()))?;
    if &header[56..60] != b"ARMd" {
        return Err(format!("{} is not an arm64 Image", kernel.display()));
    }
    let config_path = boot.join(format!("config-{release}"));
    let config = fs::read_to_string(&config_path).map_err(|e| format!("{}: {e}", config_path.display()))?;
    let mut off: Vec<String> = BUILT_IN
        .iter()
        .filter(|opt| !config.lines().any(|l| l.strip_prefix(&format!("CONFIG_{opt}=")) == Some("y")))
        .map(|opt| format!("CONFIG_{opt}=y"))
        .collect();
    let mut wanted = Vec::new();
    for (opt, module) in BUILT_IN_OR_MODULE {
        match config.lines().find_map(|l| l.strip_prefix(&format!("CONFIG_{opt}="))) {
            Some("y") => {}
            Some("m") => wanted.push(*module),
            _ => off.push(format!("CONFIG_{opt}=y or m")),
        }
    }
    if !off.is_empty() {
        return Err(format!("kernel {release} lacks {}", off.join(", ")));
    }
    let modules = modules_with_deps(&cache.join("kernel/lib/modules").join(&release), &wanted)?;
    Ok((kernel, release, modules))
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

/// <sysroot>/lib/rustlib/<host>/bin/rust-lld, which rustup's toolchains ship.
fn find_rust_lld() -> Result<PathBuf, String> {
    let hint = "rust-lld of the Rust toolchain (rustup's rustc component ships it)";
    let print = |what: &[&str]| -> Result<String, String> {
        let out = Command::new(rustc()).args(what).output().map_err(|e| format!("{hint}: rustc: {e}"))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let sysroot = print(&["--print", "sysroot"])?;
    let verbose = print(&["-vV"])?;
    let host = verbose
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .ok_or_else(|| format!("{hint}: no host in rustc -vV"))?;
    let lld = Path::new(sysroot.trim()).join("lib/rustlib").join(host.trim()).join("bin/rust-lld");
    if lld.is_file() {
        Ok(lld)
    } else {
        Err(format!("{hint}: no {}", lld.display()))
    }
}

/// Checks that `bytes` is a 64-bit little-endian arm64 ELF executable with
/// no PT_INTERP program header, i.e. runs without a dynamic loader.
pub fn check_static_aarch64(bytes: &[u8]) -> Result<(), String> {
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
    let machine = u16_at(0x12).ok_or_else(truncated)?;
    if machine != EM_AARCH64 {
        return Err(format!("e_machine {machine}, not EM_AARCH64 ({EM_AARCH64})"));
    }
    let phoff = u64_at(0x20).ok_or_else(truncated)? as usize;
    let phentsize = u16_at(0x36).ok_or_else(truncated)? as usize;
    let phnum = u16_at(0x38).ok_or_else(truncated)? as usize;
    const PT_INTERP: u32 = 3;
    for i in 0..phnum {
        if u32_at(phoff + i * phentsize).ok_or("truncated program headers")? == PT_INTERP {
            return Err("has a PT_INTERP program header: dynamically linked".into());
        }
    }
    Ok(())
}

/// The crate's binaries linked statically for arm64.
#[derive(Clone, Debug)]
pub struct StaticBinaries {
    pub tcpconnect: PathBuf,
    pub connector: PathBuf,
}

/// Builds the `tcpconnect` bin and the `connector` example for
/// aarch64-unknown-linux-musl in release mode, in the target dir of the
/// running test (once per test process), linked by `linker` (unless
/// CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER names another, e.g.
/// aarch64-linux-gnu-gcc), and checks they are static arm64 executables.
pub fn build_static_binaries(assets: &VmAssets) -> StaticBinaries {
    static BUILT: OnceLock<StaticBinaries> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            const LINKER_VAR: &str = "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER";
            let target_dir = cargo_target_dir();
            let linker = std::env::var_os(LINKER_VAR).unwrap_or_else(|| assets.linker.clone().into());
            let started = Instant::now();
            let status = Command::new(env!("CARGO"))
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .env("CARGO_TARGET_DIR", &target_dir)
                .env(LINKER_VAR, &linker)
                .args(["build", "--quiet", "--release", "--target", MUSL])
                .args(["--bin", "tcpconnect", "--example", "connector"])
                .status()
                .expect("run cargo to build the arm64 binaries");
            assert!(
                status.success(),
                "cargo build --release --target {MUSL} (linker {}) failed",
                Path::new(&linker).display()
            );
            eprintln!("vm_arm64: static arm64 binaries built in {:.1}s", started.elapsed().as_secs_f64());
            let out = target_dir.join(MUSL).join("release");
            let bins = StaticBinaries {
                tcpconnect: out.join("tcpconnect"),
                connector: out.join("examples").join("connector"),
            };
            for path in [&bins.tcpconnect, &bins.connector] {
                let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                if let Err(e) = check_static_aarch64(&bytes) {
                    panic!("{}: {e}", path.display());
                }
            }
            bins
        })
        .clone()
}

/// The script's channel in the guest: the PCI 16550, the only 8250 port
/// (`virt` has no ISA ports, so it is the first).
const SCRIPT_TTY: &str = "/dev/ttyS0";

/// The arm64 harness's part of a run: its assets and qemu's CPU model.
pub struct Arm64 {
    assets: VmAssets,
    cpu: String,
}

/// One VM run: files to put in the initramfs and the script to run (the
/// builder methods are `common::Vm`'s).
pub type Vm = common::Vm<Arm64>;

impl Vm {
    pub fn new(assets: &VmAssets) -> Vm {
        common::Vm::with(
            Arm64 {
                assets: assets.clone(),
                // Under TCG a plain ARMv8.0 core is the fastest: `max` adds
                // pointer authentication, which the kernel then uses on every
                // function return, and which TCG emulates slowly.
                cpu: "cortex-a57".to_string(),
            },
            Duration::from_secs(120),
        )
    }

    /// qemu's -cpu (default cortex-a57).
    pub fn cpu(mut self, cpu: &str) -> Vm {
        self.arch.cpu = cpu.to_string();
        self
    }

    fn init_script(&self) -> String {
        common::init_script(&insmod_lines(&self.arch.assets.modules), SCRIPT_TTY)
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
        let append = format!("console=ttyAMA0 loglevel=5 panic=-1 oops=panic{}", self.kernel_args);
        let mut qemu = Command::new(&assets.qemu);
        qemu.args(["-nodefaults", "-no-user-config", "-no-reboot", "-display", "none"])
            .args(["-machine", "virt,accel=tcg", "-cpu", &self.arch.cpu])
            .args(["-m", &self.memory_mib.to_string(), "-smp", &self.cpus.to_string()])
            .arg("-kernel")
            .arg(&assets.kernel)
            .arg("-initrd")
            .arg(&initrd)
            .args(["-append", &append])
            // The PL011 (ttyAMA0).
            .arg("-serial")
            .arg(format!("file:{}", files.kernel_log.display()))
            // The 16550 on PCI (ttyS0).
            .arg("-chardev")
            .arg(format!("file,id=script,path={}", files.console.display()))
            .args(["-device", "pci-serial,chardev=script"]);
        run_qemu(qemu, self.timeout, &files, &assets.qemu)
    }
}
