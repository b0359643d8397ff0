# fish completion for tcpconnect(8). Installed as
# share/fish/vendor_completions.d/tcpconnect.fish. Options as in
# `tcpconnect --help` (src/cli/table.rs); tests/completions.rs checks that
# they agree. Debian's package installs the binary as tcpconnect-rs and
# this file as vendor_completions.d/tcpconnect-rs.fish (fish loads it by
# that name); tcpconnect-rs completes as tcpconnect does.

complete -c tcpconnect-rs --wraps tcpconnect

# No positional arguments, so no file names unless an option takes one.
complete -c tcpconnect -f
complete -c tcpconnect -s h -l help -d 'show this help message and exit'
complete -c tcpconnect -s t -l timestamp -d 'include timestamp on output'
complete -c tcpconnect -s p -l pid -x -a '(__fish_complete_pids)' -d 'trace this PID only'
complete -c tcpconnect -s P -l port -x -d 'comma-separated list of destination ports to trace'
complete -c tcpconnect -s 4 -l ipv4 -n 'not __fish_seen_argument -s 6 -l ipv6' -d 'trace IPv4 family only'
complete -c tcpconnect -s 6 -l ipv6 -n 'not __fish_seen_argument -s 4 -l ipv4' -d 'trace IPv6 family only'
complete -c tcpconnect -s L -l lport -d 'include LPORT on output'
complete -c tcpconnect -s U -l print-uid -d 'include UID on output'
complete -c tcpconnect -s u -l uid -x -a '(__fish_complete_user_ids)' -d 'trace this UID only'
complete -c tcpconnect -s c -l count -d 'count connects per src ip and dest ip/port'
complete -c tcpconnect -l cgroupmap -r -F -d 'trace cgroups in this BPF map only'
complete -c tcpconnect -l mntnsmap -r -F -d 'trace mount namespaces in this BPF map only'
complete -c tcpconnect -s d -l dns -d 'include likely DNS query associated with each connect'
complete -c tcpconnect -l result -d 'print each connect when its handshake ends, with RESULT and LAT(ms)'
complete -c tcpconnect -l failed -d 'print only connects that did not succeed (implies --result)'
complete -c tcpconnect -l ppid -d 'include PPID and PCOMM, the parent process, on output'
complete -c tcpconnect -l container -d 'include CONTAINER on output: the container, else the cgroup'
complete -c tcpconnect -l attach -x -d 'how to hook into the kernel' -a "
    auto\t'the tracepoint where it exists, else kprobes (default)'
    kprobe\t'kprobes on tcp_v4_connect and tcp_v6_connect'
    tracepoint\t'the sock:inet_sock_set_state tracepoint (Linux 4.16+)'"
complete -c tcpconnect -l ring-size -x -a '256 1024 4096 16384 65536' -d 'size of the BPF ring buffer events go through, in KiB'
complete -c tcpconnect -s j -l json -d 'print one JSON object per line per event (per row with -c)'
complete -c tcpconnect -s v -l verbose -d 'say on stderr how tracing was set up'
complete -c tcpconnect -l version -d "show program's version number and exit"
