//! --ppid and --container on a pure cgroup v2 host and on the kprobe path,
//! which this machine (hybrid cgroups, no kprobes) has neither of: a Debian
//! cloud kernel (kprobes, BTF) boots under qemu with cgroup v2 alone at
//! /sys/fs/cgroup, as systemd mounts it. A shell moves itself into a
//! cgroup laid out as Docker's systemd driver makes them
//! (`/system.slice/docker-<id>.scope`, made by root) and connects; a
//! second connects from a cgroup removed right after; a third from the root
//! cgroup; a fourth from a cgroup a user owns, named as Docker's. Each
//! attach path must print the same lines: the container's 12-hex id, the
//! user's cgroup by its own name (never as the container it mimics), `-` at
//! the root, and each connect's parent.

#[path = "support/vm.rs"]
mod vm;

use std::path::Path;
use vm::{assets_or_skip, build_static_binaries, kernel_assets_or_skip, Vm};

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const GONE: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

/// One traced run per attach path: the scenario above, under `tool`.
fn script(run: &str, tool: &str) -> String {
    format!(
        r#"
rm -f /tmp/{run}.out /tmp/{run}.err
{tool} --ppid --container -v -P 8080 > /tmp/{run}.out 2> /tmp/{run}.err &
T=$!
i=0; while ! grep -q '^PID' /tmp/{run}.out 2>/dev/null && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done
CG=/sys/fs/cgroup/system.slice
mkdir -p $CG/docker-{ID}.scope $CG/docker-{GONE}.scope /sys/fs/cgroup/user.slice/docker-{ID}.scope
chown 1000 /sys/fs/cgroup/user.slice/docker-{ID}.scope /sys/fs/cgroup/user.slice/docker-{ID}.scope/cgroup.procs
sh -c "echo \$\$ > $CG/docker-{ID}.scope/cgroup.procs; exec nc 127.0.0.1 8080 </dev/null" 2>/dev/null
sh -c "echo \$\$ > $CG/docker-{GONE}.scope/cgroup.procs; echo \$\$ > /tmp/{run}.gone_sh; nc 127.0.0.1 8080 </dev/null; echo \$\$ > /sys/fs/cgroup/cgroup.procs" 2>/dev/null
rmdir $CG/docker-{GONE}.scope
sh -c "echo \$\$ > /sys/fs/cgroup/user.slice/docker-{ID}.scope/cgroup.procs; exec nc 127.0.0.1 8080 </dev/null" 2>/dev/null
sh -c "exec nc 127.0.0.1 8080 </dev/null" 2>/dev/null
i=0; while [ $(grep -c ' nc ' /tmp/{run}.out) -lt 4 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
kill -INT $T; wait $T
rmdir $CG/docker-{ID}.scope /sys/fs/cgroup/user.slice/docker-{ID}.scope
begin {run}.out; cat /tmp/{run}.out; end {run}.out
begin {run}.err; cat /tmp/{run}.err; end {run}.err
begin {run}.gone_sh; cat /tmp/{run}.gone_sh; end {run}.gone_sh
"#
    )
}

/// The lines a run must print, given the script shell's PID and comm and
/// the PID of the shell that connected from the removed cgroup.
fn expected(shell: (u32, &str), gone_sh: u32, pids: &[u32]) -> String {
    let line = |pid: u32, ppid: u32, pcomm: &str, container: &str| {
        format!("{pid:<6} {ppid:<6} {pcomm:<12.12} {:<12.12} {container:<16} 4  127.0.0.1        127.0.0.1        8080\n", "nc")
    };
    let mut out = "PID    PPID   PCOMM        COMM         CONTAINER        IP SADDR            DADDR            DPORT\n"
        .to_owned();
    out += &line(pids[0], shell.0, shell.1, &ID[..12]);
    out += &line(pids[1], gone_sh, "sh", &GONE[..12]);
    out += &line(pids[2], shell.0, shell.1, &format!("docker-{ID}.scope"));
    out += &line(pids[3], shell.0, shell.1, "-");
    out
}

#[test]
fn both_attach_paths_name_the_container_and_parent_on_cgroup_v2() {
    let Some(assets) = assets_or_skip("both_attach_paths_name_the_container_and_parent_on_cgroup_v2") else {
        return;
    };
    in_the_kernel_on_cgroup_v2(&assets);
}

/// Linux 5.4 (../shared/kernels: BTF, but no BPF ring buffer and the
/// perf tracepoint event, its socket's protocol a bitfield): the same
/// lines, through the perf event arrays, kernfs_node.id a union there.
#[test]
fn linux_5_4_names_the_container_and_parent_in_the_kernel() {
    let test = "linux_5_4_names_the_container_and_parent_in_the_kernel";
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/kernels/linux-5.4.286-x86_64");
    let bzimage = dir.join("bzImage");
    if !bzimage.is_file() {
        return eprintln!("skipping {test}: no {} (the kernels come with ../shared)", bzimage.display());
    }
    if let Some(assets) = kernel_assets_or_skip(test, &bzimage, "5.4.286") {
        in_the_kernel_on_cgroup_v2(&assets);
    }
}

/// The scenario of the module comment on the kernel of `assets`, both
/// attach paths, each line exact.
fn in_the_kernel_on_cgroup_v2(assets: &vm::VmAssets) {
    let bins = build_static_binaries();
    let runs = [("kprobe", "tcpconnect --attach kprobe"), ("tracepoint", "tcpconnect --attach tracepoint")];
    let mut sh = String::from("begin shell; echo $$; cat /proc/$$/comm; end shell\n");
    sh += "begin mounts; grep cgroup /proc/self/mountinfo; end mounts\n";
    for (run, tool) in runs {
        sh += &script(run, tool);
    }
    let out = Vm::new(assets)
        .file("/usr/bin/tcpconnect", &bins.tcpconnect, 0o755)
        .script(&sh)
        .run()
        .unwrap_or_else(|e| panic!("{e}"));
    let section =
        |name: &str| out.section(name).unwrap_or_else(|| panic!("no section {name} in:\n{}", out.console));
    assert_eq!(out.status, 0, "script failed:\n{}", out.console);
    let mounts = section("mounts");
    assert!(
        mounts.lines().all(|l| l.contains(" - cgroup2 ")),
        "the guest must have cgroup v2 alone:\n{mounts}"
    );
    let shell = section("shell");
    let mut shell = shell.lines();
    let shell_pid: u32 = shell.next().unwrap().parse().unwrap();
    let shell_comm = shell.next().unwrap().to_owned();
    for (run, tool) in runs {
        let text = section(&format!("{run}.out"));
        let err = section(&format!("{run}.err"));
        assert!(
            err.contains(
                "tcpconnect: --container: each connect's cgroup in the cgroup v2 hierarchy at /sys/fs/cgroup"
            ),
            "{run}: {err}"
        );
        let via = if tool.contains("kprobe") { "kprobe+kretprobe" } else { "tracepoint" };
        assert!(err.contains(via), "{run} did not attach by {via}:\n{err}");
        let gone_sh: u32 = section(&format!("{run}.gone_sh")).trim().parse().unwrap();
        // The connecting PIDs, in order, from the lines themselves; every
        // other column is checked exactly.
        let pids: Vec<u32> =
            text.lines().skip(1).map(|l| l.split_whitespace().next().unwrap().parse().unwrap()).collect();
        assert_eq!(pids.len(), 4, "{run}:\n{text}\n{err}");
        assert_eq!(text, expected((shell_pid, &shell_comm), gone_sh, &pids), "{run}:\n{err}");
    }
}

/// RHEL 8.1's 4.18 (../shared/kernels: no BTF, cgroup v1 as RHEL 8 boots):
/// the parent and the cgroup come from /proc when the line is printed, on
/// the kprobe and the tracepoint path, from the v1 freezer hierarchy (this
/// build has neither pids nor memory). The client (busybox nc, its input
/// a pipe that never ends, to a listener that keeps the connection) stays
/// until its line is printed.
#[test]
fn without_btf_rhel_8_1_names_from_proc_on_cgroup_v1() {
    let test = "without_btf_rhel_8_1_names_from_proc_on_cgroup_v1";
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/kernels/linux-4.18.0-147.el8-x86_64");
    let bzimage = dir.join("bzImage");
    if !bzimage.is_file() {
        return eprintln!("skipping {test}: no {} (the kernels come with ../shared)", bzimage.display());
    }
    let Some(assets) = kernel_assets_or_skip(test, &bzimage, "4.18.0-147.5.1.el8_1.x86_64") else {
        return;
    };
    let bins = build_static_binaries();
    let mut sh = String::from("begin shell; echo $$; cat /proc/$$/comm; end shell\n");
    sh += "mkdir -p /tmp/freezer && mount -t cgroup -o freezer cgroup /tmp/freezer\n";
    sh += &format!("mkdir -p /tmp/freezer/docker/{ID}\n");
    let runs = [("kprobe", "tcpconnect --attach kprobe"), ("tracepoint", "tcpconnect --attach tracepoint")];
    for (run, tool) in runs {
        sh += &format!(
            r#"
rm -f /tmp/{run}.out /tmp/{run}.err /tmp/{run}.client
{tool} --ppid --container -v -P 8080 > /tmp/{run}.out 2> /tmp/{run}.err &
T=$!
i=0; while ! grep -q '^PID' /tmp/{run}.out 2>/dev/null && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done
sleep 120 | nc -l -p 8080 >/dev/null 2>&1 &
i=0; while ! grep -q ':1F90 ' /proc/net/tcp && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
sleep 120 | sh -c "echo \$\$ > /tmp/freezer/docker/{ID}/cgroup.procs; echo \$\$ > /tmp/{run}.client; exec nc 127.0.0.1 8080" >/dev/null 2>&1 &
i=0; while ! grep -q ' nc ' /tmp/{run}.out && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
kill -INT $T; wait $T
kill $(cat /tmp/{run}.client) 2>/dev/null
killall nc sleep 2>/dev/null
begin {run}.out; cat /tmp/{run}.out; end {run}.out
begin {run}.err; cat /tmp/{run}.err; end {run}.err
begin {run}.client; cat /tmp/{run}.client; end {run}.client
"#
        );
    }
    sh += &format!("sleep 0.5; rmdir /tmp/freezer/docker/{ID} /tmp/freezer/docker\n");
    let out = Vm::new(&assets)
        .file("/usr/bin/tcpconnect", &bins.tcpconnect, 0o755)
        .script(&sh)
        .run()
        .unwrap_or_else(|e| panic!("{e}"));
    let section =
        |name: &str| out.section(name).unwrap_or_else(|| panic!("no section {name} in:\n{}", out.console));
    assert_eq!(out.status, 0, "script failed:\n{}", out.console);
    let shell = section("shell");
    let mut shell = shell.lines();
    let shell_pid: u32 = shell.next().unwrap().parse().unwrap();
    let shell_comm = shell.next().unwrap().to_owned();
    for (run, _) in runs {
        let err = section(&format!("{run}.err"));
        for said in [
            "tcpconnect: --ppid: each connect's parent read from /proc when its line is printed",
            "tcpconnect: --container: each connect's cgroup in the cgroup v1 freezer hierarchy at /tmp/freezer, \
             read from /proc when its line is printed",
        ] {
            assert!(err.contains(said), "{run}: {said:?} not in:\n{err}");
        }
        let client: u32 = section(&format!("{run}.client")).trim().parse().unwrap();
        let line = format!(
            "{client:<6} {shell_pid:<6} {shell_comm:<12.12} {:<12.12} {:<16} 4  127.0.0.1        127.0.0.1        8080\n",
            "nc",
            &ID[..12]
        );
        let want = format!(
            "PID    PPID   PCOMM        COMM         CONTAINER        IP SADDR            DADDR            DPORT\n{line}"
        );
        assert_eq!(section(&format!("{run}.out")), want, "{run}:\n{err}");
    }
}
