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


def wire_num(n):
    return struct.pack("<Q", n)


def wire_str(s):
    b = s.encode() if isinstance(s, str) else s
    return wire_num(len(b)) + b + b"\0" * ((8 - len(b) % 8) % 8)


def wire_strs(items):
    return wire_num(len(items)) + b"".join(wire_str(i) for i in items)


def build_options(minor):
    out = wire_num(3600) + wire_num(7200)
    if minor >= 2:
        out += wire_num(1 << 20)
    if minor >= 3:
        out += wire_num(0) + wire_num(1)
    if minor >= 7:
        out += wire_num(1)
    return out


def serve_requests(path):
    """The requests Nix 2.8's build hook and nix-copy-closure send (serve_protocol.hh), as the first byte
    (the client's minor version) and the stream, built from the fixtures of `path`: one stream of each
    command and one of all of them."""
    infos = [i for i in json.loads((path / "path-info.json").read_text()) if i["narSize"] <= 16 * 1024]
    drvs = json.loads((path / "derivations.json").read_text())
    paths = [i["path"] for i in infos]
    out = []
    for minor in (7, 3, 2):
        reqs = [
            wire_num(1) + wire_num(0) + wire_num(1) + wire_strs(paths[:3]),
            wire_num(2) + wire_strs(paths),
            wire_num(3) + wire_str(paths[0]),
            wire_num(5) + wire_num(0) + wire_strs(paths[:2]),
            wire_num(6) + wire_strs([next(iter(drvs)) + "!out", paths[0]]) + build_options(minor),
            wire_num(7) + wire_num(1) + wire_strs(list(drvs)[:2]),
        ]
        for drv_path, drv in list(drvs.items())[:3]:
            basic = wire_num(len(drv["outputs"]))
            for name, o in sorted(drv["outputs"].items()):
                basic += wire_str(name) + wire_str(o.get("path", "")) + wire_str(o.get("hashAlgo", ""))
                basic += wire_str(o.get("hash", ""))
            basic += wire_strs(sorted(drv["inputSrcs"])) + wire_str(drv["system"]) + wire_str(drv["builder"])
            basic += wire_strs(drv["args"]) + wire_num(len(drv["env"]))
            basic += b"".join(wire_str(k) + wire_str(v) for k, v in sorted(drv["env"].items()))
            reqs.append(wire_num(8) + wire_str(drv_path) + basic + build_options(minor))
        for info in infos[:3]:
            nar = (path / "nar" / (pathlib.Path(info["path"]).name[:32] + ".nar")).read_bytes()
            reqs.append(wire_num(9) + wire_str(info["path"]) + wire_str(info.get("deriver") or "")
                        + wire_str(info["narHash"]) + wire_strs(info["references"])
                        + wire_num(info["registrationTime"]) + wire_num(info["narSize"]) + wire_num(1)
                        + wire_strs(info.get("signatures", [])) + wire_str(info.get("ca", "")) + nar)
        reqs.append(wire_num(4) + export_stream(infos[:2], path / "nar"))
        out += [bytes([minor]) + r for r in reqs] + [bytes([minor]) + b"".join(reqs)]
    return out


def serve_replies(path):
    """The replies of a serve-protocol server (serve_reply_fuzz.cc: the kind, the server's minor version,
    the bytes), built from the fixtures of `path`."""
    infos = [i for i in json.loads((path / "path-info.json").read_text())]
    out = []
    for minor in (7, 5, 3, 2):
        head = bytes([0, minor])
        out.append(head + wire_num(0x5452EECB) + wire_num(0x200 | minor))
        out.append(bytes([1, minor]) + wire_strs([i["path"] for i in infos]))
        pi = b""
        for i in infos:
            pi += wire_str(i["path"]) + wire_str(i.get("deriver") or "") + wire_strs(i["references"])
            pi += wire_num(i["narSize"]) + wire_num(i["narSize"])
            if minor >= 4:
                pi += wire_str(i["narHash"]) + wire_str(i.get("ca", "")) + wire_strs(i.get("signatures", []))
        out.append(bytes([2, minor]) + pi + wire_str(""))
        for status, msg in ((0, ""), (3, "builder for '/nix/store/x.drv' failed with exit code 1"), (8, "timed out")):
            br = wire_num(status) + wire_str(msg)
            if minor >= 3:
                br += wire_num(1) + wire_num(0) + wire_num(1795586393) + wire_num(1795586394)
            if minor >= 6:
                realisation = json.dumps({"id": "sha256:" + "0" * 64 + "!out", "outPath": infos[0]["path"][11:],
                                          "signatures": [], "dependentRealisations": {}})
                br += wire_num(1) + wire_str("sha256:" + "0" * 64 + "!out") + wire_str(realisation)
            out.append(bytes([3, minor]) + br)
        out.append(bytes([4, minor]) + wire_num(1))
    return out


def machine_lines(path):
    """Each paragraph of `path` (separated by empty lines) as one seed."""
    return [p.encode() + b"\n" for p in path.read_text().split("\n\n") if p.strip()]


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
    if kind == "serve-requests":
        return serve_requests(path)
    if kind == "serve-replies":
        return serve_replies(path)
    if kind == "machines":
        return machine_lines(path)
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
