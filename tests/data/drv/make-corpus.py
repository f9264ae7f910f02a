#!/usr/bin/env python3
"""Writes the broken-derivation corpus (mutations of fixture derivations) and cases.txt.

Run from this directory: ./make-corpus.py ../nix-2.8/compat
Each case: a file and a substring its error message must contain.
"""
import json
import pathlib
import sys

compat = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "../nix-2.8/compat")
hello = (compat / "drv/nx6y523jlxy0231i9w3dbag93aw04y31-hello-text.drv").read_text()
multi = (compat / "drv/izjiriha3x8j9191038a92y4ipmgd6iv-multi-out.drv").read_text()
top = (compat / "drv/mfwsh93s00bykfhpqj08wy294vhw3a74-diamond-top.drv").read_text()
shows = json.loads((compat / "derivations.json").read_text())
hello_json = shows["/nix/store/nx6y523jlxy0231i9w3dbag93aw04y31-hello-text.drv"]

cases = []


def case(name, text, expected):
    pathlib.Path(name).write_text(text)
    cases.append((name, expected))


BB = "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static"
case("bad-magic.drv", hello.replace("Derive(", "Derivx(", 1), "expected 'Derive('")
case("empty.drv", "", "expected 'Derive('")
case("truncated.drv", hello[: len(hello) // 2], "unterminated string")
case("truncated-end.drv", hello[:-1], "expected ')'")
case("trailing.drv", hello + "\n", "trailing data")
case("unterminated-string.drv", hello[: hello.index('"x86_64-linux"') + 5], "unterminated string")
case("no-outputs.drv", "Derive([]" + hello[hello.index("],[],"):], "no outputs")
case("duplicate-output.drv", multi.replace('("doc",', '("dev",', 1), "duplicate output 'dev'")
case("duplicate-env.drv", hello.replace('("name","hello-text")', '("builder","x")', 1), "duplicate environment variable")
case("bad-output-path.drv", hello.replace("/nix/store/m3bcim6awl6bk3f8ifcpxbhb2lwgbll3-hello-text", "/tmp/hello", 1),
     "bad path of output 'out'")
case("bad-input-src.drv", hello.replace(f'["{BB}"]', '["/nix/store/notahash-busybox"]', 1), "bad input source")
case("input-not-drv.drv", top.replace("dep-chain.drv", "dep-chain", 1), "is not a .drv")
case("duplicate-input.drv", top.replace("f9r99smnaibbhppsdy5anda2m66djpfr-pass-as-file.drv", "0011vfs1ill1lhcz5r3sg9dzgla84b2i-dep-chain.drv", 1),
     "duplicate input derivation")
case("hash-without-algo.drv", hello.replace('-hello-text","","")', '-hello-text","","abc")', 1), "has a hash but no algorithm")
case("missing-comma.drv", hello.replace('],["/nix', '],,["/nix', 1), "expected '['")
case("bad-list.drv", hello.replace('["-c",', '["-c";', 1), "expected ']'")
case("no-name.drv", hello.replace('("name","hello-text"),', "", 1), "no name")
case("bad-name.drv", hello.replace('("name","hello-text")', '("name","hello text")', 1), "illegal character")
case("empty-output-name.drv", hello.replace('[("out",', '[("",', 1), "empty output name")
case("wrong-tuple.drv", hello.replace('("out",', '["out",', 1), "expected '('")

j = dict(hello_json)
del j["outputs"]
case("no-outputs.json", json.dumps(j), "missing field 'outputs'")
j = dict(hello_json, builder=7)
case("builder-not-string.json", json.dumps(j), "field 'builder' is not a string")
j = dict(hello_json, inputSrcs=["/nix/store/xyz"])
case("bad-src.json", json.dumps(j), "not a store path base name")
j = dict(hello_json, outputs={"out": {"path": "", "hashAlgo": "sha256", "hash": "123"}})
case("bad-output-hash.json", json.dumps(j), "invalid sha256 hash '123'")
j = dict(hello_json, outputs={"out": {"hashAlgo": "sha257", "hash": "00"}})
case("bad-hash-algo.json", json.dumps(j), "unknown hash algorithm 'sha257'")
j = dict(hello_json, env={"name": "x", "list": ["a"]})
case("env-not-string.json", json.dumps(j), "environment variable 'list' is not a string")

with open("cases.txt", "w") as f:
    f.write("# file<TAB>substring of the error it must give (written by make-corpus.py)\n")
    for name, expected in cases:
        f.write(f"{name}\t{expected}\n")
print(len(cases), "cases")
