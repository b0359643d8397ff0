//! `bench attach (tp | raw)`: a process that attaches an empty BPF program
//! (`r0 = 0; exit`) to sock:inet_sock_set_state, as a perf tracepoint event
//! (what tcpconnect and bpftrace do) or as a raw tracepoint, then waits for
//! a signal to end it. Run under the connect loop, it shows what each way of
//! attaching costs by itself, before any program logic.

use std::ffi::CString;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_RAW_TRACEPOINT_OPEN: libc::c_long = 17;
const BPF_PROG_TYPE_TRACEPOINT: u32 = 5;
const BPF_PROG_TYPE_RAW_TRACEPOINT: u32 = 17;
const PERF_TYPE_TRACEPOINT: u32 = 2;
const PERF_SAMPLE_RAW: u64 = 1 << 10;
// _IO('$', 0), _IOW('$', 8, __u32)
const PERF_EVENT_IOC_ENABLE: libc::c_ulong = 0x2400;
const PERF_EVENT_IOC_SET_BPF: libc::c_ulong = 0x4004_2408;

/// `union bpf_attr` for BPF_PROG_LOAD, up to `kern_version`.
#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
}

/// `union bpf_attr` for BPF_RAW_TRACEPOINT_OPEN.
#[repr(C)]
#[derive(Default)]
struct RawTracepointOpen {
    name: u64,
    prog_fd: u32,
    _pad: u32,
}

/// `struct perf_event_attr` up to config2 (PERF_ATTR_SIZE_VER1).
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    type_: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
    config2: u64,
}

fn check(what: &str, ret: libc::c_long) -> i32 {
    if ret < 0 {
        eprintln!("bench attach: {what}: {}", std::io::Error::last_os_error());
        std::process::exit(1);
    }
    ret as i32
}

/// Loads `r0 = 0; exit` as a program of `prog_type`.
fn load_empty(prog_type: u32) -> i32 {
    // BPF_MOV64_IMM(BPF_REG_0, 0), BPF_EXIT_INSN()
    let insns: [u64; 2] = [0x0000_0000_0000_00b7, 0x0000_0000_0000_0095];
    let license = b"GPL\0";
    let attr = ProgLoad {
        prog_type,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..Default::default()
    };
    // SAFETY: attr is a valid BPF_PROG_LOAD attr of the size passed; the
    // instruction array and the license string it points to outlive the
    // call, and no log buffer is given.
    let ret = unsafe {
        libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, &attr as *const ProgLoad, std::mem::size_of::<ProgLoad>())
    };
    check("BPF_PROG_LOAD", ret)
}

/// The tracepoint's id, from tracefs; mounts tracefs in a private mount
/// namespace of this process if it is not mounted (the host's mounts never
/// change).
fn tracepoint_id() -> u64 {
    let path = "/sys/kernel/tracing/events/sock/inet_sock_set_state/id";
    if let Ok(id) = std::fs::read_to_string(path) {
        return id.trim().parse().expect("tracepoint id");
    }
    let root = CString::new("/").unwrap_or_default();
    let target = CString::new("/sys/kernel/tracing").unwrap_or_default();
    let fstype = CString::new("tracefs").unwrap_or_default();
    // SAFETY: unshare and mount take flags and NUL-terminated strings that
    // outlive the calls; they affect only this process's own new namespace.
    unsafe {
        check("unshare(CLONE_NEWNS)", libc::unshare(libc::CLONE_NEWNS) as libc::c_long);
        check(
            "make / private",
            libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) as libc::c_long,
        );
        check(
            "mount tracefs",
            libc::mount(fstype.as_ptr(), target.as_ptr(), fstype.as_ptr(), 0, std::ptr::null())
                as libc::c_long,
        );
    }
    std::fs::read_to_string(path).expect("tracepoint id").trim().parse().expect("tracepoint id")
}

/// `bench attach (tp | raw)`.
pub fn main(args: &[String]) {
    // Ended by the driver's SIGINT, even if our parent ignored SIGINT.
    // SAFETY: resetting a signal to its default action has no preconditions.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_DFL) };
    match args.first().map(String::as_str) {
        Some("raw") => {
            let prog = load_empty(BPF_PROG_TYPE_RAW_TRACEPOINT);
            let name = b"inet_sock_set_state\0";
            let attr = RawTracepointOpen { name: name.as_ptr() as u64, prog_fd: prog as u32, _pad: 0 };
            // SAFETY: attr is a valid BPF_RAW_TRACEPOINT_OPEN attr; the name
            // is NUL-terminated and outlives the call.
            let ret = unsafe {
                libc::syscall(
                    libc::SYS_bpf,
                    BPF_RAW_TRACEPOINT_OPEN,
                    &attr as *const RawTracepointOpen,
                    std::mem::size_of::<RawTracepointOpen>(),
                )
            };
            check("BPF_RAW_TRACEPOINT_OPEN", ret);
        }
        Some("tp") => {
            let id = tracepoint_id();
            let prog = load_empty(BPF_PROG_TYPE_TRACEPOINT);
            let attr = PerfEventAttr {
                type_: PERF_TYPE_TRACEPOINT,
                size: std::mem::size_of::<PerfEventAttr>() as u32,
                config: id,
                sample_period: 1,
                sample_type: PERF_SAMPLE_RAW,
                wakeup_events: 1,
                ..Default::default()
            };
            // SAFETY: attr is a valid perf_event_attr prefix whose size field
            // says how much the kernel may read; the rest are integers.
            let fd = unsafe {
                libc::syscall(libc::SYS_perf_event_open, &attr as *const PerfEventAttr, -1, 0, -1, 0)
            };
            let fd = check("perf_event_open", fd);
            // SAFETY: perf ioctls with integer arguments on our own fd.
            unsafe {
                check("SET_BPF", libc::ioctl(fd, PERF_EVENT_IOC_SET_BPF as _, prog) as libc::c_long);
                check("ENABLE", libc::ioctl(fd, PERF_EVENT_IOC_ENABLE as _, 0) as libc::c_long);
            }
        }
        _ => {
            eprintln!("usage: bench attach (tp | raw)");
            std::process::exit(2);
        }
    }
    // Attached until a signal ends the process; its fds close with it,
    // which detaches.
    loop {
        // SAFETY: pause has no preconditions.
        unsafe { libc::pause() };
    }
}
