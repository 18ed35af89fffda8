#!/usr/bin/python3
"""Write synthetic raw logs (format/sockleak_log.h, version 1) for timing
`sockleak report`: FINDINGS findings spread over processes of PER_PROCESS
findings each, one file per process, every stack pointing into a real binary
(and libc) so that symbolization does real work.

    gen_logs.py --findings 100000 --binary build/bench/micro --out DIR
"""
import argparse
import json
import os
import random
import re
import subprocess
import sys

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def build_id(path):
    out = subprocess.run(["readelf", "-n", path], capture_output=True, text=True).stdout
    m = re.search(r"Build ID:\s*([0-9a-f]+)", out)
    return m.group(1) if m else ""


def code_offsets(path, dynamic=False, limit=400):
    """Addresses inside defined functions (start + a few bytes), sorted."""
    args = ["nm", "--defined-only", "-S"] + (["-D"] if dynamic else []) + [path]
    out = subprocess.run(args, capture_output=True, text=True).stdout
    offs = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in ("T", "t"):
            start, size = int(parts[0], 16), int(parts[1], 16)
            if size > 8:
                offs.append(start + min(size - 1, 5))
    offs.sort()
    return offs[:limit]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--findings", type=int, required=True)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--per-process", type=int, default=1000)
    ap.add_argument("--sites", type=int, default=40, help="distinct leaking call sites")
    args = ap.parse_args()

    exe = os.path.realpath(args.binary)
    prog_offs = code_offsets(exe)
    libc_offs = code_offsets(LIBC, dynamic=True)
    if not prog_offs or not libc_offs:
        sys.exit("gen_logs: no function symbols in %s or %s" % (exe, LIBC))
    mods = [(0, exe, build_id(exe), 0x555555554000), (1, LIBC, build_id(LIBC), 0x7FFFF7C00000)]

    rnd = random.Random(42)
    # Each site: an EOF stack and an open stack of 3..6 frames.
    def stack():
        frames = [[0, rnd.choice(prog_offs)] for _ in range(rnd.randint(2, 4))]
        frames.append([1, rnd.choice(libc_offs)])
        frames.append([0, prog_offs[0]])
        return frames
    sites = [(json.dumps(stack(), separators=(",", ":")), json.dumps(stack(), separators=(",", ":")))
             for _ in range(args.sites)]
    mod_lines = "".join(
        '{"t":"module","id":%d,"path":%s,"build_id":"%s","base":%d}\n' % (i, json.dumps(p), b, base)
        for i, p, b, base in mods)

    os.makedirs(args.out, exist_ok=True)
    left, pid, t0 = args.findings, 100000, 1764000000000
    while left > 0:
        k = min(left, args.per_process)
        pid += 1
        lines = ['{"t":"header","version":1,"pid":%d,"ppid":1,"program":"server","exe":%s,'
                 '"argv":["server"],"start_unix_ms":%d,"run_id":"","deadline_ms":5000,'
                 '"frames":32}\n' % (pid, json.dumps(exe), t0), mod_lines]
        for i in range(1, k + 1):
            eof, opn = sites[rnd.randrange(len(sites))]
            lines.append(
                '{"t":"finding","id":%d,"kind":"close_wait","fd":%d,"family":"inet",'
                '"local":"127.0.0.1:8080","peer":"127.0.0.1:%d","inode":%d,'
                '"tcp_state":"CLOSE_WAIT","eof_unix_ms":%d,"held_ms":5003,'
                '"eof_stack":%s,"open_stack":%s}\n'
                % (i, 3 + i % 1000, 1024 + i % 60000, pid * 10000 + i, t0 + i, eof, opn))
        lines.append('{"t":"footer","sockets":%d,"eof_seen":%d,"findings":%d,"end_unix_ms":%d}\n'
                     % (k, k, k, t0 + k + 10000))
        with open(os.path.join(args.out, "server.%d.jsonl" % pid), "w") as f:
            f.writelines(lines)
        left -= k


if __name__ == "__main__":
    main()
