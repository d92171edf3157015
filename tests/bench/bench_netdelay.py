#!/usr/bin/python3
"""What the emulated link (daemon/cli/wsfleet_tools/netdelay.py) costs and how exactly it delays.

UDP datagrams carrying their send time (CLOCK_REALTIME, one clock for every network namespace) go
from a sender in the client's namespace to a receiver in the gateway's, across distance.FarLink; the
receiver takes the kernel's arrival time of each (SO_TIMESTAMPNS), so its own scheduling is not
counted (it was: a receiver descheduled for ~90 ms showed as a saw-tooth of 177 ms delays):
  accuracy: at --rate packets/s with RTT 180 ms (one way 90 ms), the one-way delay each datagram
            saw, minus 90 ms: the error the forwarder adds (p50, p99, max), with and without jitter;
  capacity: a sender as fast as it can, RTT 0: the packets/s the forwarder moved, its CPU per packet
            (from /proc/PID/stat) and what it lost to overload (its queue and the TUN queue).
Prints a table and `RESULT netdelay <json>`. About 35 s (--quick: 15 s). Needs root (namespaces, TUN); exits 77
(skipped) without."""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "daemon", "cli"))
from wsfleet_tools import distance  # noqa: E402

RECEIVER = r'''
import json, socket, struct, sys
SO_TIMESTAMPNS = 35  # <asm-generic/socket.h>; not in Python's socket module
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
s.bind((sys.argv[1], 9999))
print("ready", flush=True)
s.settimeout(float(sys.argv[2]))
delays = []
try:
    while True:
        d, anc, _, _ = s.recvmsg(2048, 64)
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", data[:16])
                delays.append((sec * 10**9 + nsec - struct.unpack("!q", d[:8])[0]) / 1e3)
except socket.timeout:
    pass
print(json.dumps(delays))
'''

SENDER = r'''
import socket, struct, sys, time
addr, rate, seconds, size = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
pad = b"x" * (size - 8)
n, t0 = 0, time.monotonic()
end = t0 + seconds
while True:
    now = time.monotonic()
    if now >= end:
        break
    if rate and n >= (now - t0) * rate:
        time.sleep(min(0.001, 1.0 / rate))
        continue
    try:
        s.sendto(struct.pack("!q", time.time_ns()) + pad, (addr, 9999))
        n += 1
    except OSError:
        pass
print(n)
'''


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(rtt_ms, jitter_ms, rate, seconds, size=200):
    with distance.FarLink(rtt_ms=rtt_ms, jitter_ms=jitter_ms) as link:
        rx = link.popen_in_gateway([sys.executable, "-c", RECEIVER, link.gateway_addr, str(2 + rtt_ms / 1000)],
                                   stdout=subprocess.PIPE, text=True)
        assert rx.stdout.readline().strip() == "ready"
        cpu0 = cpu_seconds(link.forwarder.pid)
        tx = link.popen_in_client([sys.executable, "-c", SENDER, link.gateway_addr, str(rate), str(seconds), str(size)],
                                  stdout=subprocess.PIPE, text=True)
        sent = int(tx.communicate(timeout=seconds + 30)[0])
        delays = json.loads(rx.communicate(timeout=seconds + 60)[0])
        cpu = cpu_seconds(link.forwarder.pid) - cpu0
        counters = link.stop_forwarder()["client_to_gateway"]
    delays.sort()
    one_way_us = rtt_ms * 500.0
    pick = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))] if delays else float("nan")  # noqa: E731
    return {"rtt_ms": rtt_ms, "jitter_ms": jitter_ms, "rate": rate, "seconds": seconds, "size": size, "sent": sent,
            "received": len(delays), "received_per_s": round(len(delays) / seconds),
            "forwarder_cpu_us_per_packet": round(cpu * 1e6 / max(1, counters["packets"]), 1),
            "forwarder_cpu_share": round(cpu / seconds, 2),
            "error_us": {"min": round(delays[0] - one_way_us, 1) if delays else None,
                         "p50": round(pick(0.5) - one_way_us, 1), "p99": round(pick(0.99) - one_way_us, 1),
                         "max": round(delays[-1] - one_way_us, 1) if delays else None},
            "queue_drops": counters["queue_full"], "device_drops": counters["device_drops"],
            "forwarder_late_us": counters["late_us"],
            "max_queued_packets": counters["max_queued_packets"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rate", type=float, default=2000, help="packets/s of the accuracy runs")
    a = ap.parse_args()
    why = distance.unavailable()
    if why:
        print("bench_netdelay: skipped: " + why)
        return 77
    secs = 3 if a.quick else 8
    cases = [run(180, 0, a.rate, secs), run(180, 10, a.rate, secs), run(0, 0, 0, secs)]
    print("%-28s %9s %9s %10s %-34s %s" % ("case", "sent", "recv/s", "CPU/pkt", "one-way error µs min/p50/p99/max",
                                            "drops: queue / TUN device"))
    for c in cases:
        name = ("RTT %g ms ± %g, %g pkt/s" % (c["rtt_ms"], c["jitter_ms"], c["rate"]) if c["rate"]
                else "RTT %g, as fast as it can" % c["rtt_ms"])
        e = c["error_us"]
        print("%-28s %9d %9d %8.1f µs %-34s %s" % (name, c["sent"], c["received_per_s"],
                                                   c["forwarder_cpu_us_per_packet"],
                                                   "%s / %s / %s / %s" % (e["min"], e["p50"], e["p99"], e["max"]),
                                                   "%s / %s" % (c["queue_drops"], c["device_drops"])))
    print("RESULT netdelay " + json.dumps(cases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
