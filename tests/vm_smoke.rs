//! The VM harness works: a Debian cloud kernel (kprobes, BTF) boots under
//! qemu with the static tcpconnect inside, and the script's sections come
//! back exactly. Needs root (as the other integration tests) and the VM
//! assets (tools/test installs them); in CI a missing one is a failure.

#[path = "support/vm.rs"]
mod vm;

use vm::{assets_or_skip, build_static_binaries, Vm};

#[test]
fn cloud_kernel_boots_with_kprobes_btf_ipv6_and_the_static_binary() {
    let Some(assets) = assets_or_skip("cloud_kernel_boots_with_kprobes_btf_ipv6_and_the_static_binary")
    else {
        return;
    };
    let bins = build_static_binaries();
    let out = Vm::new(&assets)
        .file("/usr/bin/tcpconnect", &bins.tcpconnect, 0o755)
        .script(
            r#"
section release uname -r
begin btf; [ -e /sys/kernel/btf/vmlinux ] && echo yes || echo no; end btf
section kprobe_type cat /sys/bus/event_source/devices/kprobe/type
begin kprobe_events; [ -e /sys/kernel/tracing/kprobe_events ] && echo yes || echo no; end kprobe_events
section if_inet6 cat /proc/net/if_inet6
begin help; tcpconnect --help 2>&1 | head -1; end help
begin no_newline; printf 'a\nb'; end no_newline
"#,
        )
        .run()
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("VM wall time (qemu start to exit, TCG): {:.2?}", out.elapsed);
    let section =
        |name: &str| out.section(name).unwrap_or_else(|| panic!("no section {name} in:\n{}", out.console));
    assert_eq!(out.status, 0, "script failed:\n{}", out.console);

    let release = section("release");
    assert_eq!(release, format!("{}\n", assets.release));
    assert!(release.trim_end().ends_with("-cloud-amd64"), "{release:?}");
    assert_eq!(section("btf"), "yes\n", "no /sys/kernel/btf/vmlinux");
    let kprobe_type = section("kprobe_type");
    assert!(kprobe_type.trim_end().parse::<u32>().is_ok(), "kprobe PMU type {kprobe_type:?}");
    assert_eq!(section("kprobe_events"), "yes\n", "no /sys/kernel/tracing/kprobe_events");
    let if_inet6 = section("if_inet6");
    assert!(
        if_inet6.lines().any(|l| l.starts_with("00000000000000000000000000000001 ") && l.ends_with(" lo")),
        "no ::1 on lo:\n{if_inet6}"
    );
    let help = section("help");
    assert!(help.starts_with("usage: tcpconnect"), "{help:?}");
    // Sections are exact bytes: no \r from the tty, no missing final newline.
    assert_eq!(section("no_newline"), "a\nb");
}
