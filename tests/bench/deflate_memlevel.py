#!/usr/bin/env python3
"""permessage-deflate compressor cost by window and zlib memLevel, side by side in one process:
CPU time and output size per message for raw DEFLATE (wbits = -window_bits, as the daemon's
compressor) at memLevel 8 (zlib's default) and at the memLevel daemon/deflate.c derives from the
window (min(8, window_bits - 4)), with context takeover (one stream for every message).

Why it matters: zlib slides its window every 2^window_bits input bytes and then rewrites its whole
hash head table, 2^(memLevel+7) entries: at 9 bits and memLevel 8 that is 32,768 entries every 512
bytes. The ratio is CPU-bound, so it holds on a busy machine; absolute times do not.

With --daemon, the same through wsfleetd: two connections to the mock gateway (--deflate) with
client_max_window_bits=9, one at the default memLevel and one with `mem_level: 8` in `open`; each
`send`s the messages in alternating rounds and the daemon's CPU per message is read from
/proc/PID/schedstat (nanoseconds).

    deflate_memlevel.py [--kib 128] [--messages 20] [--bits 9,10,11,12,13,15] [--rounds 3] [--daemon]
"""

import argparse
import json
import random
import sys
import time
import zlib


def derived(bits):
    return min(8, max(1, bits - 4))


def chat_payload(kib, seed):
    """JSON chat traffic of about kib KiB: repeated keys, varying names, ids and words."""
    rnd = random.Random(seed)
    words = ["hello", "gateway", "session", "echo", "message", "room", "user", "typing", "ok", "ack", "status",
             "joined", "left", "ping", "pong", "text", "latency", "load", "test", "jmeter"]
    out = []
    size = 0
    while size < kib * 1024:
        m = json.dumps({"id": rnd.randrange(10 ** 9), "room": "room-%d" % rnd.randrange(50),
                        "from": "user%05d" % rnd.randrange(20000), "ts": 1700000000000 + rnd.randrange(10 ** 8),
                        "text": " ".join(rnd.choice(words) for _ in range(rnd.randrange(3, 20)))})
        out.append(m)
        size += len(m) + 1
    return ("[" + ",".join(out) + "]").encode()[:kib * 1024]


def measure(bits, mem, msgs):
    z = zlib.compressobj(6, zlib.DEFLATED, -bits, mem)
    out = 0
    t0 = time.process_time()
    for m in msgs:
        out += len(z.compress(m)) + len(z.flush(zlib.Z_SYNC_FLUSH)) - 4
    return (time.process_time() - t0) / len(msgs), out / len(msgs)


def daemon_side_by_side(msgs, rounds):
    import benchlib as bl
    texts = [m.decode() for m in msgs]
    with bl.MockGw("--quiet", "--deflate") as gw, bl.Daemon("--max-message-bytes", str(1 << 24)) as d:
        ctl = d.client(timeout=60)
        cases = (("default", {}), ("mem_level 8", {"mem_level": 8}))
        for name, extra in cases:
            ctl.call("open", conn=name, url=gw.url, deflate=dict({"client_max_window_bits": 9}, **extra))
        best = {}
        for _ in range(rounds):
            for name, _ in cases:
                ns0 = bl.schedstat(d.pid)[0]
                for t in texts:
                    ctl.call("send", conn=name, data=t)
                best[name] = min(best.get(name, 1e18), (bl.schedstat(d.pid)[0] - ns0) / len(texts))
        print("\n# wsfleetd, client_max_window_bits=9, daemon CPU per message (best of %d rounds):" % rounds)
        out = {}
        for name, _ in cases:
            dfl = ctl.call("status", conn=name)["deflate"]
            out[name] = {"ms": best[name] / 1e6, "bytes": dfl["bytes_out_compressed"] / dfl["bytes_out"]}
            print("  %-12s %.3f ms  compressed/plain %.4f" % (name, out[name]["ms"], out[name]["bytes"]))
        print("  speed-up x%.2f" % (out["mem_level 8"]["ms"] / out["default"]["ms"]))
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kib", type=int, default=128)
    ap.add_argument("--messages", type=int, default=20)
    ap.add_argument("--bits", default="9,10,11,12,13,15")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best of each is shown")
    ap.add_argument("--daemon", action="store_true", help="also measure through wsfleetd (build it first)")
    args = ap.parse_args()
    msgs = [chat_payload(args.kib, i) for i in range(args.messages)]
    print("# zlib %s; %d messages of %d KiB of JSON chat text, level 6, context takeover; CPU ms per message, "
          "best of %d alternating rounds" % (zlib.ZLIB_RUNTIME_VERSION, args.messages, args.kib, args.rounds))
    print("bits  memLevel 8: ms/msg  bytes/msg  | derived memLevel: ms/msg  bytes/msg  | speed-up  size")
    rows = []
    for bits in (int(b) for b in args.bits.split(",")):
        d = derived(bits)
        best = {8: (1e9, 0), d: (1e9, 0)}
        for _ in range(args.rounds):
            for mem in (8, d):
                t, size = measure(bits, mem, msgs)
                best[mem] = min(best[mem], (t, size))
        (t8, s8), (td, sd) = best[8], best[d]
        rows.append({"bits": bits, "mem_derived": d, "ms8": t8 * 1e3, "bytes8": s8, "ms_derived": td * 1e3,
                     "bytes_derived": sd})
        print("%4d  %8.3f  %9.0f  | %2d: %8.3f  %9.0f  | x%.2f  %+.2f%%" % (bits, t8 * 1e3, s8, d, td * 1e3, sd,
                                                                        t8 / td, 100.0 * (sd - s8) / s8))
    daemon = daemon_side_by_side(msgs, args.rounds) if args.daemon else None
    print("RESULT deflate_memlevel %s" % json.dumps({"zlib": rows, "daemon": daemon}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
