//! `bench attach (tp | raw | ring | ring-per-cpu | array-per-cpu | none)`: a process that attaches an empty BPF program
//! (`r0 = 0; exit`) to sock:inet_sock_set_state, as a perf tracepoint event
//! or as a raw tracepoint (tcpconnect's two ways on this kernel), then waits
//! for a signal to end it. Run under the connect loop, it shows what each
//! way of attaching costs by itself, before any program logic. `none`
//! attaches nothing: the placebo. `ring`, `ring-per-cpu` and `array-per-cpu` are the least a
//! program that delivers every connect does (see `delivery_floor`, `delivery_floor_array`). Loading and
//! attaching go through tcpconnect's own `sys` and `attach` modules.

use std::os::fd::AsFd;
use tcpconnect::attach::raw_tracepoint::attach_raw_tracepoint;
use tcpconnect::attach::tracepoint::attach_tracepoint;
use tcpconnect::sys::bpf::{bpf_prog_load, ProgLoad};
use tcpconnect::tracefs::Tracefs;
use tcpconnect::uapi::{BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_PROG_TYPE_TRACEPOINT};
/// BPF_MOV64_IMM(BPF_REG_0, 0), BPF_EXIT_INSN()
const EMPTY_PROGRAM: [u64; 2] = [0x0000_0000_0000_00b7, 0x0000_0000_0000_0095];

fn fail(what: &str, error: impl std::fmt::Display) -> ! {
    eprintln!("bench attach: {what}: {error}");
    std::process::exit(1);
}

/// Loads the empty program as a program of `prog_type`.
fn load_empty(prog_type: u32) -> std::os::fd::OwnedFd {
    bpf_prog_load(&ProgLoad {
        prog_type,
        insns: &EMPTY_PROGRAM,
        license: c"GPL",
        kern_version: 0,
        btf_attach: None,
        name: "bench_empty",
    })
    .unwrap_or_else(|e| fail("BPF_PROG_LOAD", e.error))
}

/// `bench attach (tp | raw | none)`.
pub fn main(args: &[String]) {
    // Ended by the driver's SIGINT, even if our parent ignored SIGINT.
    // SAFETY: resetting a signal to its default action has no preconditions.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_DFL) };
    let (category, name) = tcpconnect::abi::STATE_TRACEPOINT;
    // Held until the process ends: closing them detaches.
    let _attached: Box<dyn std::any::Any> = match args.first().map(String::as_str) {
        Some("raw") => {
            let prog = load_empty(BPF_PROG_TYPE_RAW_TRACEPOINT);
            let link = attach_raw_tracepoint(tcpconnect::abi::STATE_RAW_TRACEPOINT, prog.as_fd())
                .unwrap_or_else(|e| fail("BPF_RAW_TRACEPOINT_OPEN", e));
            Box::new((link, prog))
        }
        Some("tp") => {
            // Mounts tracefs in a private mount namespace if it is mounted
            // nowhere, as tcpconnect does: the host's mounts never change.
            let tracefs = Tracefs::open().unwrap_or_else(|e| fail("tracefs", e));
            let id = tracefs.tracepoint_id(category, name).unwrap_or_else(|e| fail("tracepoint id", e));
            let prog = load_empty(BPF_PROG_TYPE_TRACEPOINT);
            let link = attach_tracepoint(id, prog.as_fd(), 0).unwrap_or_else(|e| fail("attach", e));
            Box::new((link, prog))
        }
        Some("ring") => crate::delivery_floor::run(false),
        Some("ring-per-cpu") => crate::delivery_floor::run(true),
        Some("array-per-cpu") => crate::delivery_floor_array::run(),
        Some("none") => Box::new(()),
        _ => {
            eprintln!("usage: bench attach (tp | raw | ring | ring-per-cpu | array-per-cpu | none)");
            std::process::exit(2);
        }
    };
    loop {
        // SAFETY: pause has no preconditions.
        unsafe { libc::pause() };
    }
}
