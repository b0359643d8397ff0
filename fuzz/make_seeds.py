#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ (see fuzz/README.md).

Run as root from anywhere: python3 fuzz/make_seeds.py. It reads the embedded
BPF object, the running kernel's tracepoint format files (tracefs is mounted
in a private mount namespace when it is mounted nowhere) and
/sys/kernel/btf/vmlinux; everything else is built here. Seeds only start
the fuzzer off: regenerating them on another kernel is fine.
"""

import os
import struct
import subprocess
import sys

FUZZ = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(FUZZ)
CORPUS = os.path.join(FUZZ, "corpus")


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data)


# --- elf_loader -------------------------------------------------------------

def elf_loader():
    with open(os.path.join(ROOT, "bpf-prebuilt", "tcpconnect.bpf.o"), "rb") as f:
        write("elf_loader", "tcpconnect.bpf.o", f.read())


# --- perf_ring (input layout: see fuzz_targets/perf_ring.rs) -------------------

def perf_ring():
    def header(kind, size):
        return struct.pack("<IHH", kind, 0, size)

    def sample(payload):
        body = struct.pack("<I", len(payload)) + payload
        size = (8 + len(body) + 7) // 8 * 8
        return header(9, size) + body + b"\xaa" * (size - 8 - len(body))

    def lost(n):
        return header(2, 24) + struct.pack("<QQ", 7, n)

    def seed(len_log, tail, records, wrap=False):
        length = 8 << len_log
        ring = bytearray(length)
        stream = b"".join(records)
        for i, b in enumerate(stream):
            ring[(tail + i) % length] = b
        # control % 10 picks the length; 64..95 means head = tail + pending.
        control = 64 + (len_log - 4) % 10
        return bytes([control]) + struct.pack("<QQ", tail, len(stream)) + bytes(ring)

    event = bytes(range(1, 57))  # a 56-byte event, like tcpconnect's
    write("perf_ring", "samples", seed(4, 0, [sample(event), lost(3), sample(b"abc")]))
    write("perf_ring", "wrapped_sample", seed(4, 96, [sample(event)]))
    write("perf_ring", "unknown_and_lost", seed(3, 1 << 40, [header(17, 16) + b"x" * 8, lost(1)]))
    write("perf_ring", "zero_size", seed(3, 0, [header(9, 0)]))


# --- tracefs_format ---------------------------------------------------------

FORMATS = [
    ("sock", "inet_sock_set_state"),
    ("syscalls", "sys_enter_connect"),
    ("syscalls", "sys_exit_connect"),
]

# A real kernel's layout with the one-byte protocol (4.16 to 5.5).
FORMAT_4_19 = os.path.join(ROOT, "tests", "fixtures", "tracefs", "linux-4.19.108-x86_64",
                           "sock.inet_sock_set_state.format")


def tracefs_format():
    script = "; ".join(
        "cat $T/events/%s/%s/format > %s/%s.format" % (c, n, os.path.join(CORPUS, "tracefs_format"), n)
        for c, n in FORMATS
    )
    os.makedirs(os.path.join(CORPUS, "tracefs_format"), exist_ok=True)
    if os.path.exists("/sys/kernel/tracing/events"):
        subprocess.run(["sh", "-c", "T=/sys/kernel/tracing; " + script], check=True)
    else:
        # A private mount namespace: the host's mounts never change.
        subprocess.run(
            ["unshare", "-m", "sh", "-c",
             "mount -t tracefs nodev /sys/kernel/tracing && T=/sys/kernel/tracing; " + script],
            check=True,
        )
    with open(FORMAT_4_19, "rb") as f:
        write("tracefs_format", "linux_4_19.format", f.read())


# --- btf ----------------------------------------------------------------------

KIND_INT, KIND_PTR, KIND_ARRAY, KIND_STRUCT, KIND_UNION, KIND_ENUM = 1, 2, 3, 4, 5, 6
KIND_TYPEDEF, KIND_CONST = 8, 10
MAGIC = 0xEB9F


def extra_len(kind, vlen):
    return {1: 4, 3: 12, 4: 12 * vlen, 5: 12 * vlen, 6: 8 * vlen, 13: 8 * vlen, 14: 4,
            15: 12 * vlen, 17: 4, 19: 12 * vlen}.get(kind, 0)


def blob(types, strings):
    return struct.pack("<HBBIIIII", MAGIC, 1, 0, 24, 0, len(types), len(types), len(strings)) + types + strings


def read_vmlinux():
    with open("/sys/kernel/btf/vmlinux", "rb") as f:
        data = f.read()
    _, _, _, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<HBBIIIII", data)
    types = data[hdr_len + type_off:hdr_len + type_off + type_len]
    strings = data[hdr_len + str_off:hdr_len + str_off + str_len]
    records, pos = [], 0
    while pos < len(types):
        name_off, info, sot = struct.unpack_from("<III", types, pos)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        end = pos + 12 + extra_len(kind, vlen)
        records.append((name_off, info, sot, types[pos + 12:end]))
        pos = end
    return data, records, strings


def name_at(strings, off):
    return strings[off:strings.index(b"\0", off)]


def vmlinux_subset(records, strings, roots):
    """The named structs and every type they embed (pointers become void *),
    renumbered, with a string section of just their names."""
    by_name = {}
    for i, (name_off, info, _, _) in enumerate(records):
        if (info >> 24) & 0x1F == KIND_STRUCT:
            by_name.setdefault(name_at(strings, name_off), i + 1)
    order, seen = [], set()

    def refs(tid):
        _, info, sot, extra = records[tid - 1]
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        if kind in (KIND_TYPEDEF, 9, KIND_CONST, 11, 18):
            return [sot]
        if kind == KIND_ARRAY:
            return list(struct.unpack_from("<II", extra))
        if kind in (KIND_STRUCT, KIND_UNION):
            return [struct.unpack_from("<I", extra, 12 * i + 4)[0] for i in range(vlen)]
        return []

    def visit(tid):
        if tid == 0 or tid in seen:
            return
        seen.add(tid)
        for r in refs(tid):
            visit(r)
        order.append(tid)

    for root in roots:
        visit(by_name[root])
    new_id = {old: i + 1 for i, old in enumerate(order)}
    new_strings, offsets = bytearray(b"\0"), {0: 0}

    def string(off):
        if off not in offsets:
            offsets[off] = len(new_strings)
            new_strings.extend(name_at(strings, off) + b"\0")
        return offsets[off]

    out = bytearray()
    for old in order:
        name_off, info, sot, extra = records[old - 1]
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        extra = bytearray(extra)
        if kind == KIND_PTR:
            sot = 0
        elif kind in (KIND_TYPEDEF, 9, KIND_CONST, 11, 18):
            sot = new_id[sot]
        elif kind == KIND_ARRAY:
            elem, index, n = struct.unpack_from("<III", extra)
            struct.pack_into("<III", extra, 0, new_id[elem], new_id[index], n)
        elif kind in (KIND_STRUCT, KIND_UNION):
            for i in range(vlen):
                m_name, m_type, m_off = struct.unpack_from("<III", extra, 12 * i)
                struct.pack_into("<III", extra, 12 * i, string(m_name), new_id[m_type], m_off)
        elif kind in (KIND_ENUM, 19):
            step = 8 if kind == KIND_ENUM else 12
            for i in range(vlen):
                struct.pack_into("<I", extra, step * i, string(struct.unpack_from("<I", extra, step * i)[0]))
        out += struct.pack("<III", string(name_off), info, sot) + extra
    return blob(bytes(out), bytes(new_strings))


def synthetic_btf():
    """The fixture of src/btf.rs's unit tests, built the same way."""
    types, strings = bytearray(), bytearray(b"\0")

    def s(name):
        if not name:
            return 0
        strings.extend(name.encode() + b"\0")
        return len(strings) - len(name) - 1

    def push(name, kind, sot, extra=(), vlen=0, kind_flag=False):
        info = (int(kind_flag) << 31) | (kind << 24) | vlen
        name_off = s(name)
        types.extend(struct.pack("<III", name_off, info, sot))
        for word in extra:
            types.extend(struct.pack("<I", word))

    def composite(kind, name, size, members, kind_flag=False):
        extra = []
        for member, tid, off in members:
            extra += [s(member), tid, off]
        push(name, kind, size, extra, len(members), kind_flag)

    push("outer", 7, 0)                                   # 1: FWD
    push("int", KIND_INT, 4, [32])                        # 2
    push("unsigned char", KIND_INT, 1, [8])               # 3
    push("u32", KIND_TYPEDEF, 2)                          # 4
    push("", KIND_CONST, 4)                               # 5
    push("", KIND_ARRAY, 0, [3, 2, 16])                   # 6
    composite(KIND_STRUCT, "ns_common", 16, [("stashed", 2, 0), ("inum", 5, 64)])  # 7
    composite(KIND_STRUCT, "", 8, [("lo", 2, 0), ("hi", 2, 32)])                   # 8
    composite(KIND_UNION, "", 16, [("addr", 6, 0), ("", 8, 0), ("pair", 8, 0)])    # 9
    push("ns_common_t", KIND_TYPEDEF, 7)                  # 10
    push("", KIND_PTR, 12)                                # 11
    composite(KIND_STRUCT, "outer", 80, [                 # 12
        ("family", 2, 0), ("", 9, 32), ("ns", 10, 160), ("id", 4, 288),
        ("flags", 2, 3 << 24 | 320), ("next", 11, 384), ("tail", 6, 448)], kind_flag=True)
    push("bits3", KIND_INT, 4, [3])                       # 13
    composite(KIND_STRUCT, "oldbits", 8, [("whole", 2, 0), ("narrow", 13, 32), ("odd", 3, 36)])  # 14
    composite(KIND_UNION, "dup", 4, [("u", 2, 0)])        # 15
    composite(KIND_STRUCT, "dup", 8, [("s", 2, 32)])      # 16
    push("loop", KIND_TYPEDEF, 17)                        # 17: a cycle
    composite(KIND_STRUCT, "cyclic", 4, [("", 18, 0), ("x", 17, 0)])  # 18
    return blob(bytes(types), bytes(strings))


def btf():
    data, records, strings = read_vmlinux()
    # The first 64 KiB as they are: a header whose sections run past the end.
    write("btf", "vmlinux_first_64k", data[:64 * 1024])
    write("btf", "vmlinux_subset", vmlinux_subset(
        records, strings, [b"sock_common", b"nsproxy", b"mnt_namespace"]))
    write("btf", "synthetic", synthetic_btf())


# --- dns ----------------------------------------------------------------------

def dns_message(qname, answers, flags=0x8180, compress=True):
    def name(n):
        return b"".join(bytes([len(l)]) + l.encode() for l in n.split(".") if l) + b"\0"

    msg = struct.pack(">HHHHHH", 0x1234, flags, 1, len(answers), 0, 0) + name(qname) + struct.pack(">HH", 1, 1)
    for rtype, rdata in answers:
        owner = b"\xc0\x0c" if compress else name(qname)
        msg += owner + struct.pack(">HHIH", rtype, 1, 300, len(rdata)) + rdata
    return msg


def ipv4_udp(payload):
    total = 20 + 8 + len(payload)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, total, 0x1234, 0x4000, 64, 17, 0,
                     bytes([10, 0, 0, 53]), bytes([10, 0, 0, 1]))
    return ip + struct.pack(">HHHH", 53, 40000, 8 + len(payload), 0) + payload


def ipv6_udp(payload):
    ip = struct.pack(">IHBB16s16s", 0x60000000, 8 + len(payload), 17, 64, b"\0" * 15 + b"\1", b"\0" * 15 + b"\1")
    return ip + struct.pack(">HHHH", 53, 40000, 8 + len(payload), 0) + payload


def dns():
    a = dns_message("example.com", [(1, bytes([93, 184, 215, 14]))])
    aaaa = dns_message("ipv6.example.org", [(28, bytes(range(16))), (1, bytes([1, 2, 3, 4]))], compress=False)
    cname = dns_message("www.example.net", [(5, b"\x03cdn\xc0\x10"), (1, bytes([5, 6, 7, 8]))])
    nxdomain = dns_message("nope.invalid", [], flags=0x8583)
    write("dns", "a_response", a)
    write("dns", "aaaa_response", aaaa)
    write("dns", "cname_response", cname)
    write("dns", "aa_no_answer", nxdomain)
    write("dns", "ipv4_udp_a", ipv4_udp(a))
    write("dns", "ipv6_udp_aaaa", ipv6_udp(aaaa))


# --- cli ----------------------------------------------------------------------

def cli():
    lines = {
        "empty": [],
        "timestamps_uid": ["-t", "-U"],
        "pid_ports": ["-p", "181", "-P", "80,81,443"],
        "bundled": ["-tUL4", "-u1000"],
        "long_forms": ["--pid=5", "--attach", "kprobe", "--json", "-v"],
        "abbreviated": ["--att=tracepoint", "--cgroup", "/sys/fs/bpf/x", "--mnt", "y"],
        "conflict": ["-4", "-6", "-c", "-d"],
        "help": ["-h"],
        "unknown": ["--foo", "bar", "-x", "--"],
    }
    for name, words in lines.items():
        write("cli", name, "\0".join(words))
    write("cli", "not_utf8", b"-P\x008\xff0\x00--cgroupmap\x00\xfe")


# --- text_line (input layout: see fuzz_targets/text_line.rs) --------------------

def text_line():
    names = [b"x\n1 fake", b"tab\tesc\x1b[31m", b"del\x7f\\back", b"exactly15bytes!"]
    for i, name in enumerate(names):
        comm = name + b"\0" * (16 - len(name))
        record = struct.pack("<QIIHHB3x", 123456789, 4242, 1000, 443, 55555, 4 if i % 2 == 0 else 6)
        record += bytes(range(1, 17)) + bytes(range(17, 33)) + comm
        write("text_line", "hostile_%d" % i, bytes([i * 5 & 31]) + record)


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("make_seeds.py: run as root (tracefs and /sys/kernel/btf/vmlinux)")
    for make in (elf_loader, perf_ring, tracefs_format, btf, dns, cli, text_line):
        make()
