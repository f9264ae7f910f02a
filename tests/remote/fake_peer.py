#!/usr/bin/env python3
# A misbehaving serve-protocol peer for the remote tests, run in place of ssh (its arguments are
# ignored). FERRY_FAKE_PEER chooses the fault:
#   wrong-magic    answers the greeting with another magic
#   version:<hex>  answers with that protocol version (e.g. 0x201), then serves nothing
#   garbage        writes text instead of the greeting (as a shell's motd would)
#   corrupt-nar    a 2.7 server whose build succeeds and whose NAR differs from the hash it reports:
#                  FERRY_FAKE_NAR is the NAR file, FERRY_FAKE_HASH the hash to report ("sha256:…"),
#                  FERRY_FAKE_FLIP which byte (from the end) to flip: 24 hits the contents of a small
#                  last file (another hash), 40 its "contents" tag (a malformed NAR)
#   built          the same server with the NAR intact, which writes FERRY_FAKE_LOG to its standard error
#                  right after each build's result
#   downgrade:<hex> a proxy to the server that FERRY_FAKE_SERVER (a shell command) runs, which rewrites
#                  both sides' versions in the greeting to <hex> (e.g. 0x204), so that each speaks that
#                  version to the other
import os, select, struct, sys

inp, out = sys.stdin.buffer, sys.stdout.buffer


def u64(v):
    return struct.pack("<Q", v)


def string(s):
    if isinstance(s, str):
        s = s.encode()
    return u64(len(s)) + s + b"\0" * ((8 - len(s) % 8) % 8)


def read_exact(n):
    data = b""
    while len(data) < n:
        chunk = os.read(0, n - len(data))
        if not chunk:
            sys.exit(0)
        data += chunk
    return data


def read_request():
    """The whole request: what arrives until the client has been quiet for 200 ms."""
    data = read_exact(8)
    while select.select([0], [], [], 0.2)[0]:
        chunk = os.read(0, 1 << 20)
        if not chunk:
            break
        data += chunk
    return data


def first_path(req):
    # command, count, then the first string
    n = struct.unpack("<Q", req[16:24])[0]
    return req[24:24 + n].decode()


def after_path_set(req):
    """What follows a request of a command and a set of paths (the client may send the next at once)."""
    pos = 16
    for _ in range(struct.unpack("<Q", req[8:16])[0]):
        n = struct.unpack("<Q", req[pos:pos + 8])[0]
        pos += 8 + (n + 7) // 8 * 8
    return req[pos:]


def downgrade(version):
    import subprocess
    server = subprocess.Popen(["/bin/sh", "-c", os.environ["FERRY_FAKE_SERVER"]], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    to_server, from_server = server.stdin.fileno(), server.stdout.fileno()
    hello = read_exact(16)
    os.write(to_server, hello[:8] + u64(version))
    reply = b""
    while len(reply) < 16:
        reply += os.read(from_server, 16 - len(reply))
    out.write(reply[:8] + u64(version))
    out.flush()
    while True:
        ready = select.select([0, from_server], [], [])[0]
        for fd in ready:
            data = os.read(fd, 1 << 16)
            if not data:
                server.stdin.close()
                server.wait()
                sys.exit(0)
            os.write(to_server if fd == 0 else 1, data)


mode = os.environ.get("FERRY_FAKE_PEER", "")
if mode.startswith("downgrade:"):
    downgrade(int(mode[10:], 16))
read_exact(16)
if mode == "wrong-magic":
    out.write(u64(0x12345678) + u64(0x207))
    out.flush()
    sys.exit(0)
if mode.startswith("version:"):
    out.write(u64(0x5452eecb) + u64(int(mode[8:], 16)))
    out.flush()
    read_exact(8)
    sys.exit(0)
if mode == "garbage":
    out.write(b"Welcome to a machine that prints a banner!\n")
    out.flush()
    sys.exit(0)
assert mode in ("corrupt-nar", "built"), mode
out.write(u64(0x5452eecb) + u64(0x207))
out.flush()
nar = open(os.environ["FERRY_FAKE_NAR"], "rb").read()
bad = bytearray(nar)
if mode == "corrupt-nar":
    bad[-int(os.environ.get("FERRY_FAKE_FLIP", "24"))] ^= 0x01  # counted from the end
while True:
    req = read_request()
    cmd = struct.unpack("<Q", req[:8])[0]
    if cmd == 8:  # BuildDerivation: built
        out.write(u64(0) + string("") + u64(1) + u64(0) + u64(1) + u64(2) + u64(0))
        if mode == "built":  # the log just after the result (two pipes: nothing orders them)
            out.flush()
            sys.stderr.buffer.write(os.environ["FERRY_FAKE_LOG"].encode())
            sys.stderr.buffer.flush()
    elif cmd == 2:  # QueryPathInfos: the path, no deriver, no references, the true size and hash
        path = first_path(req)
        out.write(string(path) + string("") + u64(0) + u64(len(nar)) + u64(len(nar)) +
                  string(os.environ["FERRY_FAKE_HASH"]) + string("") + u64(0) + string(""))
        if after_path_set(req)[:8] == u64(3):  # DumpStorePath sent with it
            out.write(bytes(bad))
    elif cmd == 3:  # DumpStorePath
        out.write(bytes(bad))
    else:
        sys.exit(1)
    out.flush()
