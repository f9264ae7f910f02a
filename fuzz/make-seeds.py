#!/usr/bin/env python3
"""Writes the seed corpus of each libFuzzer target from the repository's fixtures, as fuzz/targets.txt
says (its third and later fields), plus the target's regression inputs (tests/data/fuzz-regressions/NAME/).
Seeds are generated, not committed. Files over 64 KiB are left out (the static busybox NAR): libFuzzer
takes its default input size from the largest seed, and big inputs only slow it down.

    fuzz/make-seeds.py OUT_DIR [NAME…]     # writes OUT_DIR/NAME/<n>, every target when no NAME is given
"""

import glob
import json
import pathlib
import re
import struct
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAX_SEED = 64 * 1024
STORE_PATH = re.compile(rb"/nix/store/[0-9a-z]{32}-[A-Za-z0-9+\-._?=]+")
HASH = re.compile(rb"(?:md5|sha1|sha256|sha512)[:-][A-Za-z0-9+/=]+")


def targets():
    """NAME -> list of seed specs, from targets.txt."""
    out = {}
    for line in (ROOT / "fuzz" / "targets.txt").read_text().splitlines():
        words = line.split()
        if len(words) >= 2 and not words[0].startswith("#"):
            out[words[0]] = words[2:]
    return out


def files(pattern):
    return [pathlib.Path(p) for p in sorted(glob.glob(str(ROOT / pattern)))]


def export_stream(paths, nar_dir):
    """Nix's export format (store/export_stream.hh) of `paths` (entries of `nix path-info --json`)."""

    def num(n):
        return struct.pack("<Q", n)

    def string(s):
        b = s.encode() if isinstance(s, str) else s
        return num(len(b)) + b + b"\0" * ((8 - len(b) % 8) % 8)

    out = b""
    for info in paths:
        nar = (nar_dir / (pathlib.Path(info["path"]).name[:32] + ".nar")).read_bytes()
        out += num(1) + nar + num(0x4558494E) + string(info["path"])
        out += num(len(info["references"])) + b"".join(string(r) for r in info["references"])
        out += string(info.get("deriver") or "") + num(0)
    return out + num(0)


def seeds(spec):
    """The seeds one spec stands for, as bytes."""
    kind, _, arg = spec.partition(":")
    if not arg:
        return [p.read_bytes() for p in files(spec)]
    path = ROOT / arg
    if kind == "lines":
        lines = path.read_text().splitlines()
        return [l.split("\t")[0].encode() for l in lines if l and not l.startswith("#")]
    if kind == "storepaths":
        found = STORE_PATH.findall(path.read_bytes())
        return sorted(set(found)) + sorted({p + b"/bin/sh" for p in found[:3]})
    if kind == "hashes":
        return sorted(set(HASH.findall(path.read_bytes())))
    if kind == "drvjson":
        return [json.dumps({k: v}).encode() for k, v in json.loads(path.read_text()).items()]
    if kind == "ca":
        out = set()
        for drv in json.loads(path.read_text()).values():
            for o in drv["outputs"].values():
                if "hashAlgo" in o:
                    out.add(f"{o['hashAlgo']}\n{o['hash']}".encode())
        return sorted(out) + [b"text:sha256\n" + b"0" * 52, b"r:sha512\n"]
    if kind == "export":
        infos = json.loads((path / "path-info.json").read_text())
        small = [i for i in infos if i["narSize"] <= 16 * 1024]
        return [export_stream([i], path / "nar") for i in small] + [export_stream(small, path / "nar")]
    raise SystemExit(f"make-seeds: unknown seed kind '{kind}' in '{spec}'")


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    out_dir = pathlib.Path(sys.argv[1])
    table = targets()
    for name in sys.argv[2:] or table:
        if name not in table:
            raise SystemExit(f"make-seeds: no target '{name}' in fuzz/targets.txt")
        specs = table[name] + [f"tests/data/fuzz-regressions/{name}/*"]
        data = [d for spec in specs for d in seeds(spec) if len(d) <= MAX_SEED]
        target_dir = out_dir / name
        target_dir.mkdir(parents=True, exist_ok=True)
        for old in target_dir.iterdir():
            old.unlink()
        for i, d in enumerate(dict.fromkeys(data)):
            (target_dir / f"seed-{i:04d}").write_bytes(d)
        print(f"{name}: {len(dict.fromkeys(data))} seeds")


if __name__ == "__main__":
    main()
