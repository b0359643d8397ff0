# bash completion for tcpconnect(8)                        -*- shell-script -*-
# Installed as share/bash-completion/completions/tcpconnect (loaded on
# demand by bash-completion); needs nothing from bash-completion itself.
# Options as in `tcpconnect --help` (src/cli/table.rs); tests/completions.rs
# checks that they agree. Also for tcpconnect-rs, the name Debian's package
# installs it under (debian/rules installs this file as
# share/bash-completion/completions/tcpconnect-rs).

_tcpconnect()
{
    local cur prev
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    # "--attach=k": COMP_WORDBREAKS usually splits it as "--attach" "=" "k".
    if [[ $cur == = ]]; then
        cur=
    elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
        prev=${COMP_WORDS[COMP_CWORD - 2]}
    elif [[ $cur == --*=* ]]; then
        prev=${cur%%=*}
        cur=${cur#*=}
    fi

    case $prev in
        --attach)
            COMPREPLY=($(compgen -W 'auto kprobe tracepoint' -- "$cur"))
            return
            ;;
        -p | --pid)
            COMPREPLY=($(compgen -W "$(cd /proc 2>/dev/null && printf '%s ' [0-9]*)" -- "$cur"))
            return
            ;;
        -u | --uid)
            COMPREPLY=($(compgen -W "$(getent passwd 2>/dev/null | cut -d: -f3)" -- "$cur"))
            return
            ;;
        -P | --port)
            # Comma-separated port numbers: nothing to offer.
            COMPREPLY=()
            return
            ;;
        --ring-size)
            COMPREPLY=($(compgen -W '256 1024 4096 16384 65536' -- "$cur"))
            return
            ;;
        --cgroupmap | --mntnsmap)
            # A pinned BPF map, usually under /sys/fs/bpf.
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -f -- "$cur"))
            return
            ;;
    esac

    # No positional arguments: offer the options.
    local opts='-h --help -t --timestamp -p --pid -P --port -4 --ipv4
        -6 --ipv6 -L --lport -U --print-uid -u --uid -c --count
        --cgroupmap --mntnsmap -d --dns --result --failed --ppid --container --attach
        --ring-size -j --json
        -v --verbose --version'
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -F _tcpconnect tcpconnect tcpconnect-rs
