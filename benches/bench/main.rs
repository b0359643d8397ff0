//! tcpconnect's performance suite, run by hand: `sudo tools/bench` (which
//! builds the static binary and runs `cargo bench --bench bench`). Never part
//! of `cargo test`: it loads BPF programs, drives the machine flat out for a
//! few minutes and prints figures, it asserts nothing.
//!
//! The machine it runs on is noisy, so every figure is taken side by side,
//! in the same run, with a reference (bpftrace running the equivalent
//! tracepoint program, the untraced loop, std's fmt), interleaved where it
//! is repeated, and printed as absolute numbers next to their ratio.
//!
//!   bench [--tool PATH] [--quick] [--only exec,rss,overhead,accounting,stalled,dns,lost,format,size]
//!   bench client (count N | seconds S)     the load process (see `client`)
//!   bench udp PORT (count N | seconds S)   the UDP load of the -d section (see `dns`)
//!   bench syscall (count N | seconds S)    its syscall load (see `dns`)
//!   bench read (count N | seconds S)       its read(2) load (see `dns`)
//!   bench attach (tp | raw | ring | ring-per-cpu | none)
//!                                          an empty program, attached (see `attach`)
//!
//! `--tool` is the tcpconnect binary to measure (default: the musl build
//! under the cargo target directory); `--quick` runs a few repetitions of
//! everything, to check the suite itself.

mod accounting;
mod attach;
mod client;
mod delivery_floor;
mod delivery_floor_array;
mod dns;
mod format;
mod stats;
mod system;
mod table;
mod tracer;

use std::path::PathBuf;

/// What to run and how much.
pub struct Config {
    /// The tcpconnect binary under test.
    pub tool: PathBuf,
    /// This very binary, re-executed as the load client.
    pub exe: PathBuf,
    /// Fewer repetitions: a smoke run of the suite.
    pub quick: bool,
    /// The sections to run.
    pub only: Vec<String>,
}

impl Config {
    pub fn wants(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == section)
    }
}

const SECTIONS: [&str; 9] =
    ["exec", "rss", "overhead", "accounting", "stalled", "dns", "lost", "format", "size"];

fn usage() -> ! {
    eprintln!(
        "usage: bench [--tool PATH] [--quick] [--only {}]\n       bench client (count N | seconds S)\n       \
         bench udp PORT (count N | seconds S)\n       \
         bench syscall (count N | seconds S)\n       bench read (count N | seconds S)\n       bench attach (tp | raw | ring | ring-per-cpu | none)",
        SECTIONS.join(",")
    );
    std::process::exit(2);
}

fn default_tool() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("x86_64-unknown-linux-musl/release/tcpconnect")
}

fn parse_config() -> Config {
    let mut args = std::env::args().skip(1);
    let mut config = Config {
        tool: default_tool(),
        exe: std::env::current_exe().expect("the bench's own path"),
        quick: false,
        only: Vec::new(),
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            "--quick" => config.quick = true,
            "--tool" => config.tool = PathBuf::from(args.next().unwrap_or_else(|| usage())),
            "--only" => {
                let list = args.next().unwrap_or_else(|| usage());
                config.only = list.split(',').map(str::to_owned).collect();
                if config.only.iter().any(|s| !SECTIONS.contains(&s.as_str())) {
                    usage();
                }
            }
            _ => usage(),
        }
    }
    config
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("client") => return client::main(&args[1..]),
        Some("udp") => return dns::main(&args[1..]),
        Some("syscall") => return dns::syscall_main(&args[1..]),
        Some("read") => return dns::read_main(&args[1..]),
        Some("attach") => return attach::main(&args[1..]),
        _ => {}
    }
    let config = parse_config();
    let needs_root =
        ["exec", "rss", "overhead", "accounting", "stalled", "dns", "lost"].iter().any(|s| config.wants(s));
    // SAFETY: geteuid has no preconditions.
    if needs_root && unsafe { libc::geteuid() } != 0 {
        eprintln!("bench: run as root (it loads BPF programs): sudo tools/bench");
        std::process::exit(1);
    }
    if needs_root && !config.tool.is_file() {
        eprintln!("bench: {} is missing: build it first (tools/bench does)", config.tool.display());
        std::process::exit(1);
    }

    let mut table = table::Table::new(&config);
    let programs_before = system::loaded_programs();
    if config.wants("exec") {
        system::exec_to_live(&config, &mut table);
    }
    if config.wants("overhead") {
        system::connect_overhead(&config, &mut table);
    }
    if config.wants("accounting") {
        accounting::accounting(&config, &mut table);
    }
    if config.wants("stalled") {
        system::stalled_reader(&config, &mut table);
    }
    if config.wants("dns") {
        dns::datagram_cost(&config, &mut table);
    }
    if config.wants("lost") || config.wants("rss") {
        system::lost_and_rss(&config, &mut table);
    }
    if config.wants("format") {
        format::throughput(&config, &mut table);
    }
    if config.wants("size") {
        system::binary_size(&config, &mut table);
    }
    table.print();
    system::check_clean(programs_before);
}
