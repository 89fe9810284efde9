"""Resident pages of the `node` executable a process has touched, by part of the file.

Usage: python3 bench/node_floor.py PID [NODE_BINARY]   (root: /proc/PID/pagemap)

Reads the executable's LOAD segments (`readelf -lW`) and its ICU data symbol (`nm -D -S`, the
`icudt*_dat` blob inside read-only data), then counts the pages of each part present in memory
from /proc/PID/pagemap (bit 63). Shows how much of a Node process's resident memory is the runtime's
own file pages before any of its JavaScript runs (bench/results/node-floor.md).
"""
import re
import struct
import subprocess
import sys

PAGE = 4096


def segments(binary):
    out = subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            vaddr, memsz, flags = int(f[2], 16), int(f[5], 16), " ".join(f[6:-1])
            yield vaddr, vaddr + memsz, flags


def icu(binary):
    out = subprocess.run(["nm", "-D", "-S", binary], capture_output=True, text=True, check=True).stdout
    m = re.search(r"^([0-9a-f]+) ([0-9a-f]+) R icudt\w+_dat$", out, re.M)
    return (int(m.group(1), 16), int(m.group(1), 16) + int(m.group(2), 16)) if m else None


def present(pagemap, start, end):
    first, last = start // PAGE, (end + PAGE - 1) // PAGE
    pagemap.seek(first * 8)
    data = pagemap.read((last - first) * 8)
    return sum(1 for i in range(0, len(data), 8) if struct.unpack("<Q", data[i : i + 8])[0] >> 63)


def main():
    pid = int(sys.argv[1])
    binary = sys.argv[2] if len(sys.argv) > 2 else "/usr/bin/node"
    parts = []
    icu_range = icu(binary)
    for start, end, flags in segments(binary):
        if icu_range and start <= icu_range[0] < end:
            parts += [("read-only data", start, icu_range[0]), ("ICU data", *icu_range), ("read-only data", icu_range[1], end)]
        else:
            parts.append(("text" if "E" in flags else "data" if "W" in flags else "read-only data", start, end))
    totals = {}
    with open("/proc/%d/pagemap" % pid, "rb") as pagemap:
        for name, start, end in parts:
            mib = present(pagemap, start, end) * PAGE / 2**20
            size = totals.get(name, (0.0, 0.0))
            totals[name] = (size[0] + mib, size[1] + (end - start) / 2**20)
    status = open("/proc/%d/status" % pid).read()
    for key in ("VmRSS", "RssAnon", "RssFile"):
        kib = int(re.search(r"^%s:\s+(\d+)" % key, status, re.M).group(1))
        print("%-16s %7.1f MiB" % (key, kib / 1024))
    for name, (mib, size) in totals.items():
        print("node %-11s %7.1f MiB resident of %7.1f" % (name, mib, size))


if __name__ == "__main__":
    main()
