#!/usr/bin/env python3
"""Generates the broken-NAR corpus of tests/data/nar: mutations of Nix's fixture NARs and hand-built
archives, each with the substring its error message must contain (cases.txt: file<TAB>substring).

Run once from anywhere; the outputs are committed:
    python3 tests/data/nar/make-corpus.py [--fixtures DIR]
"""

import argparse
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_FIXTURES = HERE.parent / "nix-2.8" / "compat" / "nar"
DIR_TREE = "a26lm7bpwrazrrmrq64m8ljq28hbmpjk.nar"  # directory with files, symlinks, subdirectories
PLAIN = "avzmmwh1yxkpjpzz72wnjj8xs950dsbv.nar"  # a single regular file


def u64(n):
    return struct.pack("<Q", n)


def pad(n):
    return b"\0" * ((8 - n % 8) % 8)


def s(x):
    if isinstance(x, str):
        x = x.encode()
    return u64(len(x)) + x + pad(len(x))


def toks(*xs):
    return b"".join(s(x) for x in xs)


def reg(contents=b"hi\n", exe=False):
    head = toks("(", "type", "regular") + (toks("executable", "") if exe else b"")
    return head + toks("contents") + u64(len(contents)) + contents + pad(len(contents)) + s(")")


def sym(target):
    return toks("(", "type", "symlink", "target") + s(target) + s(")")


def dir_(*entries):
    """Entries as given, in that order: the caller decides whether they are sorted."""
    body = b"".join(toks("entry", "(", "name") + s(name) + s("node") + node + s(")") for name, node in entries)
    return toks("(", "type", "directory") + body + s(")")


def nar(node):
    return s("nix-archive-1") + node


def offset_of(data, needle, start=0):
    i = data.find(needle, start)
    assert i >= 0, needle
    return i


def fixture_cases(fixtures):
    d = (fixtures / DIR_TREE).read_bytes()
    p = (fixtures / PLAIN).read_bytes()
    cases = []

    cases.append(("bad-magic.nar", d.replace(b"nix-archive-1", b"nix-archive-2", 1),
                  "at offset 0: bad magic 'nix-archive-2'"))
    bad = bytearray(d)
    bad[21] = 1  # padding of the 13-byte magic string
    cases.append(("bad-padding-magic.nar", bytes(bad), "at offset 21: non-zero padding byte 0x01"))

    # plain.txt's contents are not a multiple of 8 long: spoil their padding, or stop inside it.
    size_at = offset_of(p, s("contents")) + 16
    size = struct.unpack("<Q", p[size_at:size_at + 8])[0]
    assert size % 8 != 0
    pad_at = size_at + 8 + size
    bad = bytearray(p)
    bad[pad_at + 1] = 0xff
    cases.append(("bad-padding-contents.nar", bytes(bad), f"at offset {pad_at + 1}: non-zero padding byte 0xff"))
    cases.append(("truncated-contents-padding.nar", p[:pad_at + 1], "truncated: input ends while expecting the padding"))

    cases.append(("truncated-empty.nar", b"", "at offset 0: truncated: input ends while expecting 'nix-archive-1'"))
    cases.append(("truncated-magic.nar", d[:10], "at offset 10: truncated"))
    cases.append(("truncated-length.nar", d[:28], "at offset 28: truncated: input ends while expecting '('"))
    big_at = offset_of(d, s("big.txt"))
    contents_at = offset_of(d, toks("contents"), big_at) + 24
    cut = contents_at + 1000
    cases.append(("truncated-contents.nar", d[:cut],
                  f"at offset {cut}: truncated: input ends while expecting 4000 more bytes of the contents of "
                  "'sub/deeper/big.txt'"))
    cases.append(("truncated-before-close.nar", d[:-16], "truncated: input ends while expecting 'entry' or ')'"))
    cases.append(("trailing-garbage.nar", d + s(")"), f"at offset {len(d)}: trailing data after the end"))
    cases.append(("trailing-zero.nar", p + b"\0", f"at offset {len(p)}: trailing data after the end"))

    type_at = offset_of(d, s("type"))
    bad = bytearray(d)
    bad[type_at:type_at + 8] = u64(2**64 - 1)
    cases.append(("huge-token-length.nar", bytes(bad),
                  f"at offset {type_at}: string of 18446744073709551615 bytes where 'type' was expected "
                  "exceeds the limit of 16 bytes"))
    cases.append(("unknown-type-in-fixture.nar", d.replace(s("symlink"), s("hardlnk"), 1), "unknown node type 'hardlnk'"))
    return cases


def hand_built_cases():
    f = reg()
    return [
        ("out-of-order.nar", nar(dir_(("b", f), ("a", f))), "entry 'a' is out of order after 'b' in directory the root"),
        ("out-of-order-bytes.nar", nar(dir_(("\xe9".encode("latin-1"), f), ("z", f))),
         "entry 'z' is out of order after '\\xe9'"),
        ("duplicate-entry.nar", nar(dir_(("a", f), ("a", f))), "duplicate entry 'a'"),
        ("duplicate-nested.nar", nar(dir_(("d", dir_(("x", f), ("x", f)))),), "duplicate entry 'x' in directory 'd'"),
        ("name-slash.nar", nar(dir_(("a/b", f),)), "invalid entry name 'a/b' in directory the root: contains '/'"),
        ("name-dot.nar", nar(dir_((".", f),)), "invalid entry name '.' in directory the root: reserved name"),
        ("name-dotdot.nar", nar(dir_(("..", f),)), "invalid entry name '..' in directory the root: reserved name"),
        ("name-nul.nar", nar(dir_(("a\0b", f),)), "invalid entry name 'a\\x00b' in directory the root: contains NUL"),
        ("name-empty.nar", nar(dir_(("", f),)), "invalid entry name '' in directory the root: empty"),
        ("name-too-long.nar", nar(dir_(("n" * 4097, f),)),
         "string of 4097 bytes where an entry name was expected exceeds the limit of 4096 bytes"),
        ("unknown-type.nar", nar(toks("(", "type", "fifo", ")")), "at offset 56: unknown node type 'fifo' at the root"),
        ("unknown-regular-token.nar", nar(toks("(", "type", "regular", "execute", "", "contents") + u64(0) + s(")")),
         "unknown token 'execute' in regular file the root"),
        ("missing-contents.nar", nar(toks("(", "type", "regular", ")")), "missing 'contents' in regular file the root"),
        ("executable-not-empty.nar", nar(toks("(", "type", "regular", "executable", "yes", "contents") + u64(0) + s(")")),
         "expected '' but got 'yes'"),
        ("huge-name-length.nar", nar(toks("(", "type", "directory", "entry", "(", "name") + u64(2**60) + b"x" * 8),
         "string of 1152921504606846976 bytes where an entry name was expected exceeds the limit of 4096 bytes"),
        ("huge-contents-size.nar", nar(toks("(", "type", "regular", "contents") + u64(2**62) + b"abcdefgh" * 4),
         "truncated: input ends while expecting 4611686018427387872 more bytes of the contents of the root"),
        ("missing-close-paren.nar",
         nar(toks("(", "type", "directory", "entry", "(", "name", "a", "node") + f +
             toks("entry", "(", "name", "b", "node") + f + toks(")", ")")),
         "at offset 256: expected ')' but got 'entry'"),
        ("missing-node-tag.nar", nar(toks("(", "type", "directory", "entry", "(", "name", "a") + f + toks(")", ")")),
         "expected 'node' but got '('"),
        ("bad-directory-token.nar", nar(toks("(", "type", "directory", "entri", ")")),
         "expected 'entry' or ')' but got 'entri' in directory the root"),
        ("empty-symlink-target.nar", nar(dir_(("l", sym("")),)), "empty symlink target at 'l'"),
        ("symlink-target-nul.nar", nar(dir_(("l", sym("a\0b")),)), "symlink target 'a\\x00b' at 'l' contains NUL"),
        ("missing-type.nar", nar(toks("(", "regular", "contents") + u64(0) + s(")")), "expected 'type' but got 'regular'"),
        ("error-after-files.nar", nar(dir_(("a", f), ("b", reg(b"x" * 100, exe=True)), ("c", sym("a")),
                                           ("d", dir_(("e", f),)), ("d", f))),
         "duplicate entry 'd' in directory the root"),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=pathlib.Path, default=DEFAULT_FIXTURES)
    args = parser.parse_args()
    cases = fixture_cases(args.fixtures) + hand_built_cases()
    for old in HERE.glob("*.nar"):
        old.unlink()
    lines = ["# file\texpected substring of the FormatError (generated by make-corpus.py)"]
    for name, data, expected in cases:
        (HERE / name).write_bytes(data)
        lines.append(f"{name}\t{expected}")
    (HERE / "cases.txt").write_text("\n".join(lines) + "\n")
    print(f"wrote {len(cases)} cases to {HERE}")


if __name__ == "__main__":
    main()
