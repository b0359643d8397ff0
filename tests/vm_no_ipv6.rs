//! A kernel without IPv6 (bcc #5192: its `-4` broke where CONFIG_IPV6=n):
//! Debian's cloud kernel (the kprobe VM tests' 6.1) booted with
//! `ipv6.disable=1`, so no AF_INET6 socket can be made and
//! /proc/net/if_inet6 is absent, though tcp_v6_connect is still in
//! /proc/kallsyms. On both attach paths: the default, `-4`, `-L` and
//! `--result` print the exact lines of IPv4 connects; `-6` refuses in one
//! line, exit 1, before anything is loaded. A kernel built with
//! CONFIG_IPV6=n differs only in having no tcp_v6_connect at all; the kprobe
//! path then traces IPv4 only and says so with -v (`tracer::choice`'s unit
//! tests hold both cases to their words).
//!
//! Needs root and the VM assets, as tests/vm_kprobe.rs does.

mod support;
#[path = "support/vm.rs"]
mod vm;

use std::time::Duration;

use support::handshake_lines::{check_result_run, BASE_PORT};
use support::{connector_output, lport_line, LPORT_HEADER};
use vm::{assets_or_skip, build_static_binaries, section, trace_run, Vm, TRACE_HELPERS};

/// The IPv4 connects: refused on port 1, accepted on 8080.
const TARGETS: &str = "--lport 4:127.0.0.1:1 4:127.0.0.1:8080";

/// What -v says on the kprobe path: tcp_v6_connect exists, IPv6 does not.
const KPROBE_SAID: &str =
    "tcpconnect: IPv6 is disabled on this kernel (no /proc/net/if_inet6): tracing IPv4 only\n\
                           tcpconnect: attach: kprobe+kretprobe (kprobe PMU) on tcp_v4_connect\n";

const NO_IPV6: &str = "tcpconnect: -6 traces only IPv6 connects, and this kernel has no IPv6 (no \
                       /proc/net/if_inet6: built without CONFIG_IPV6, or booted with ipv6.disable=1)\n";

#[test]
fn ipv6_disabled_at_boot_traces_ipv4_and_refuses_dash_6_in_one_line() {
    let test = "ipv6_disabled_at_boot_traces_ipv4_and_refuses_dash_6_in_one_line";
    let Some(assets) = assets_or_skip(test) else {
        return;
    };
    let bins = build_static_binaries();
    let mut script = format!(
        r#"{TRACE_HELPERS}
begin if_inet6; [ -e /proc/net/if_inet6 ] && echo present || echo absent; end if_inet6
nc -ll -p 8080 -e /bin/true </dev/null >/dev/null 2>&1 &
i=0; while ! netstat -ltn | grep -q ':8080 ' && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
echo 1 > /proc/sys/net/ipv4/tcp_syn_retries
"#
    );
    for (method, command) in [("auto", "tcpconnect"), ("kprobe", "tcpconnect --attach kprobe")] {
        script.push_str(&format!(
            "TARGETS=\"{TARGETS}\"\n\
             trace {method}.plain {command} -v\n\
             trace {method}.4 {command} -v -4\n\
             trace {method}.L {command} -v -L\n\
             TARGETS=\"--handshakes {BASE_PORT}\" trace {method}.result {command} --result -L\n\
             {command} -6 > /tmp/out 2> /tmp/err; rc=$?\n\
             begin {method}.6; echo $rc; cat /tmp/out /tmp/err; end {method}.6\n"
        ));
    }
    let out = Vm::new(&assets)
        .file("/usr/bin/tcpconnect", &bins.tcpconnect, 0o755)
        .file("/usr/bin/connector", &bins.connector, 0o755)
        .kernel_args("ipv6.disable=1")
        .memory_mib(1024)
        .cpus(2)
        .timeout(Duration::from_secs(400))
        .script(&script)
        .run()
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    eprintln!("{test}: VM wall time {:.1?}", out.elapsed);
    assert_eq!(out.status, 0, "{test}: script failed:\n{}", out.console);
    assert_eq!(section(&out, "if_inet6"), "absent\n", "{test}: ipv6.disable=1");

    for method in ["auto", "kprobe"] {
        let ports = |run: &vm::TraceRun| -> Vec<u16> {
            let lines: Vec<&str> = run.conn.lines().collect();
            assert_eq!(lines.len(), 2, "{method}: {}", run.conn);
            assert_eq!(lines[0], "ConnectionRefused", "{method}: {}", run.conn);
            let accepted = lines[1].strip_prefix("ok ").and_then(|p| p.parse().ok());
            vec![0, accepted.unwrap_or_else(|| panic!("{method}: {}", run.conn))]
        };
        let lines = [(4, "127.0.0.1", "127.0.0.1", 1), (4, "127.0.0.1", "127.0.0.1", 8080)];
        for name in ["plain", "4"] {
            let run = trace_run(&out, &format!("{method}.{name}"));
            ports(&run);
            eprintln!("{method}.{name}:\n{}{}", run.out, run.err);
            assert_eq!(run.out, connector_output(run.connector_pid, &lines), "{method}.{name}");
            if method == "kprobe" && name == "plain" {
                assert_eq!(run.err, KPROBE_SAID, "{method}.{name}: -v");
            }
        }
        // -L: the refused connect's port is gone when connect(2) fails; the
        // printed one must be nonzero.
        let run = trace_run(&out, &format!("{method}.L"));
        let mut ports = ports(&run);
        let printed: Vec<&str> = run.out.lines().skip(1).collect();
        assert_eq!(printed.len(), 2, "{method}.L:\n{}", run.out);
        ports[0] = support::lport_of(printed[0]);
        assert_ne!(ports[0], 0, "{method}.L:\n{}", run.out);
        let mut expected = format!("{LPORT_HEADER}\n");
        for ((ip, saddr, daddr, dport), lport) in lines.into_iter().zip(ports) {
            expected.push_str(&lport_line(run.connector_pid, ip, saddr, lport, daddr, dport));
            expected.push('\n');
        }
        assert_eq!(run.out, expected, "{method}.L");

        let run = trace_run(&out, &format!("{method}.result"));
        eprintln!("{method}.result:\n{}", run.out);
        let said: Vec<String> = run.conn.lines().map(str::to_string).collect();
        check_result_run(run.connector_pid, &run.out, &said, false);

        assert_eq!(section(&out, &format!("{method}.6")), format!("1\n{NO_IPV6}"), "{method}: -6");
    }
}
