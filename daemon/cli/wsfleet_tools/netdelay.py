"""A user-space link emulator: two TUN devices, and between them IP packets held for a one-way delay
with jitter, random loss, an optional rate and bounded queues. `tc netem` does this in the kernel;
this machine's kernel has no sch_netem (`# CONFIG_NET_SCH_NETEM is not set`: `tc qdisc add dev lo
root netem delay 10ms` answers "Specified qdisc kind is unknown"), nor sch_fq or act_bpf, but it has
TUN devices and network namespaces. So the far region is made at the packet level, as netem would:

    client namespace                  this program                    gateway namespace
    10.77.0.1 (fd77::1) on TUN c  <->  two fds, a queue each way  <->  TUN g with 10.77.0.2 (fd77::2)

Everything above IP is the kernels' own: a lost packet is really lost and TCP retransmits it; a
handshake really takes one round trip per exchange. The namespaces are made by distance.py (the
context manager that starts this program); this file is the link model (LinkDirection, no I/O) and
the forwarder (open_tun, forward, main), stdlib only, run as `python3 netdelay.py --client-ns PID
--gateway-ns PID --rtt 180ms ...`. It prints one JSON line when the link is up and its counters as
one JSON line when SIGTERM or SIGINT ends it. The TUN devices belong to its fds: when it exits, even
killed, the kernel removes them.

The model, per direction (client->gateway and gateway->client, each with its own random stream):
  - loss: each packet is dropped with probability --loss (so a round trip loses ~2x that);
  - rate (optional): a packet leaves after the ones before it finished at --rate bits/s;
  - delay: --rtt/2, plus a uniform draw in ±--jitter/2, so the round trip is RTT ± jitter;
  - order: kept by default (a packet never leaves before the one ahead of it, as on one path; a
    draw below the previous packet's waits for it, so the mean delay is a little above RTT/2);
    --reorder lets jitter reorder packets as netem without a rate does;
  - queue: at most --limit-packets packets and --limit-bytes bytes wait in each direction; a
    packet beyond that is dropped and counted (queue_full; netem's default limit is 1000 packets).
    Before that queue, the TUN device's own (500 packets) overflows when this program cannot read
    as fast as packets come (a flood beyond its capacity): counted as device_drops.
The timer is select() (microsecond timeouts; epoll's are whole milliseconds, which alone would
add up to 1 ms per packet), and the forwarder runs real-time once set up (sharpen_timing). Figures measured on this machine are in the README's "Distance"
section and tests/bench/RESULTS.md.
"""

import argparse
import ctypes
import fcntl
import heapq
import json
import os
import random
import re
import select
import signal
import struct
import subprocess
import sys
import time

# ---- option values ------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(us|µs|ms|s)?\s*$")


def parse_duration_ms(text):
    """'180ms', '0.18s', '500us' or a bare number of milliseconds -> milliseconds (float)."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError("not a duration: %r (e.g. 180ms, 0.18s)" % text)
    v = float(m.group(1))
    return v * {"us": 0.001, "µs": 0.001, "ms": 1.0, "s": 1000.0, None: 1.0}[m.group(2)]


def parse_fraction(text):
    """'1%' -> 0.01; '0.01' -> 0.01. Must be in [0, 1)."""
    s = str(text).strip()
    v = float(s[:-1]) / 100.0 if s.endswith("%") else float(s)
    if not 0 <= v < 1:
        raise ValueError("loss must be in [0, 100%%): %r" % text)
    return v


def parse_rate_bps(text):
    """'10mbit', '1gbit', '500kbit' or bits per second -> bits per second (0 = unlimited)."""
    m = re.match(r"^\s*([0-9]*\.?[0-9]+)\s*(bit|kbit|mbit|gbit)?\s*$", str(text).lower())
    if not m:
        raise ValueError("not a rate: %r (e.g. 10mbit)" % text)
    return float(m.group(1)) * {None: 1, "bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9}[m.group(2)]


# ---- the link model (no I/O) --------------------------------------------------------------------

LATE_SAMPLES = 100000  # lateness samples kept per direction (reservoir), for the p50/p99 in the counters


class LinkDirection:
    """One direction of the link: admit() takes a packet at time `now` (seconds, monotonic) and
    queues it or drops it; due(now) gives back the packets whose time has come, in release order.
    Times are passed in, so the model is tested without sockets or clocks."""

    def __init__(self, name, delay_s, jitter_s=0.0, loss=0.0, rate_bps=0.0, seed=1, reorder=False,
                 limit_packets=10000, limit_bytes=32 << 20):
        self.name = name
        self.delay_s, self.jitter_s, self.loss, self.rate_bps = delay_s, jitter_s, loss, rate_bps
        self.reorder = reorder
        self.limit_packets, self.limit_bytes = limit_packets, limit_bytes
        self.rng = random.Random(seed)
        self.heap = []            # (release time, sequence, packet)
        self.seq = 0
        self.queued_bytes = 0
        self.last_release = 0.0   # the latest release time given so far (order is kept against it)
        self.wire_free = 0.0      # when the rate-limited wire has finished the packets before
        self.late = []            # seconds each packet left after its release time (reservoir)
        self.c = {"packets": 0, "bytes": 0, "forwarded": 0, "forwarded_bytes": 0, "lost": 0,
                  "queue_full": 0, "write_errors": 0, "max_queued_packets": 0, "max_queued_bytes": 0,
                  "delay_sum_s": 0.0}

    def admit(self, packet, now):
        """Queues `packet` (bytes); returns its release time, or None when it was dropped."""
        c = self.c
        c["packets"] += 1
        c["bytes"] += len(packet)
        if self.loss and self.rng.random() < self.loss:
            c["lost"] += 1
            return None
        if len(self.heap) >= self.limit_packets or self.queued_bytes + len(packet) > self.limit_bytes:
            c["queue_full"] += 1
            return None
        start = now
        if self.rate_bps:
            start = max(now, self.wire_free) + len(packet) * 8.0 / self.rate_bps
            self.wire_free = start
        delay = self.delay_s
        if self.jitter_s:
            delay = max(0.0, delay + self.rng.uniform(-self.jitter_s, self.jitter_s))
        release = start + delay
        if not self.reorder:
            release = max(release, self.last_release)
        self.last_release = max(self.last_release, release)
        self.seq += 1
        heapq.heappush(self.heap, (release, self.seq, packet))
        self.queued_bytes += len(packet)
        c["delay_sum_s"] += release - now
        c["max_queued_packets"] = max(c["max_queued_packets"], len(self.heap))
        c["max_queued_bytes"] = max(c["max_queued_bytes"], self.queued_bytes)
        return release

    def next_release(self):
        return self.heap[0][0] if self.heap else None

    def due(self, now):
        """Pops the packets whose release time is ≤ now: a list of (release time, packet)."""
        out = []
        while self.heap and self.heap[0][0] <= now:
            release, _, packet = heapq.heappop(self.heap)
            self.queued_bytes -= len(packet)
            out.append((release, packet))
        return out

    def sent(self, release, now, ok, nbytes):
        """Counts one packet handed to the far side at `now` (ok False: the write failed)."""
        if not ok:
            self.c["write_errors"] += 1
            return
        self.c["forwarded"] += 1
        self.c["forwarded_bytes"] += nbytes
        late = now - release
        if len(self.late) < LATE_SAMPLES:
            self.late.append(late)
        else:
            i = self.rng.randrange(self.c["forwarded"])
            if i < LATE_SAMPLES:
                self.late[i] = late

    def counters(self):
        c = dict(self.c)
        admitted = c["packets"] - c["lost"] - c["queue_full"]
        c["mean_delay_ms"] = round(c.pop("delay_sum_s") * 1000.0 / admitted, 3) if admitted else None
        lat = sorted(self.late)
        pick = (lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1e6, 1)) if lat else (lambda q: None)
        c["late_us"] = {"p50": pick(0.5), "p99": pick(0.99), "max": round(lat[-1] * 1e6, 1) if lat else None}
        c["queued_at_exit"] = len(self.heap)
        return c


# ---- TUN devices --------------------------------------------------------------------------------

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
MAX_PACKET = 65536


def open_tun(template):
    """Opens a new TUN device named from `template` ("wsfc%d": the kernel picks the number, so two
    links never collide); returns (fd, name). The device lives as long as the fd."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        ifr = fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", template.encode(), IFF_TUN | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd, ifr[:16].rstrip(b"\0").decode()


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), (r.stderr or r.stdout).strip()))


def place_tun(name, ns_pid, addr4, peer4, addr6, peer6):
    """Moves TUN `name` into the network namespace of process `ns_pid` and gives it a
    point-to-point pair of addresses there (IPv6 without duplicate address detection, so it is
    usable at once)."""
    run(["ip", "link", "set", "dev", name, "netns", str(ns_pid)])
    ns = ["nsenter", "-t", str(ns_pid), "-n"]
    run(ns + ["ip", "addr", "add", addr4, "peer", peer4, "dev", name])
    run(ns + ["ip", "-6", "addr", "add", addr6 + "/128", "dev", name, "nodad"])
    run(ns + ["ip", "link", "set", "dev", name, "up"])
    # An IPv6 "peer" address gets no route to the peer on this kernel (6.x): the route is added here.
    run(ns + ["ip", "-6", "route", "replace", peer6 + "/128", "dev", name])


def device_drops(name, ns_pid):
    """Packets the kernel dropped at TUN `name` because they did not fit its queue (txqueuelen
    500) while this program was not reading fast enough: the link's other overflow, before its
    own queue. None when it cannot be read."""
    try:
        r = subprocess.run(["nsenter", "-t", str(ns_pid), "-n", "ip", "-j", "-s", "link", "show", "dev", name],
                           capture_output=True, text=True, timeout=10)
        return json.loads(r.stdout)[0]["stats64"]["tx"]["dropped"]
    except (OSError, ValueError, KeyError, IndexError, subprocess.SubprocessError):
        return None


# ---- the forwarder ------------------------------------------------------------------------------

BATCH = 256  # packets read from one fd per wakeup, so one busy direction cannot starve the other


def forward(fds, dirs, stop):
    """Moves packets until stop() is true: what is read from fds[i] goes through dirs[i] and is
    written to the other fd. select() because its timeout has microseconds (see the docstring)."""
    dir_of = {fds[0]: dirs[0], fds[1]: dirs[1]}
    out_fd = {id(dirs[0]): fds[1], id(dirs[1]): fds[0]}
    while not stop():
        now = time.monotonic()
        for d in dirs:
            for release, packet in d.due(now):
                try:
                    n = os.write(out_fd[id(d)], packet)
                    d.sent(release, time.monotonic(), True, n)
                except OSError:
                    d.sent(release, now, False, 0)
        nexts = [t for t in (d.next_release() for d in dirs) if t is not None]
        timeout = 0.2  # at most, so a stop request is seen within 0.2 s
        if nexts:
            timeout = max(0.0, min(timeout, min(nexts) - time.monotonic()))
        try:
            readable, _, _ = select.select(fds, [], [], timeout)
        except InterruptedError:
            continue
        for fd in readable:
            d = dir_of[fd]
            for _ in range(BATCH):
                try:
                    packet = os.read(fd, MAX_PACKET)
                except (BlockingIOError, InterruptedError):
                    break
                d.admit(packet, time.monotonic())


PR_SET_TIMERSLACK = 29


def sharpen_timing(realtime):
    """The link stands for the network, not for a program under test, so it should not wait behind
    them for a CPU: SCHED_FIFO priority 10 (root), else nice -10, and a timer slack of 1 µs instead
    of the default 50 µs, which select() timeouts would otherwise be rounded up by. Measured at
    2,000 packets/s on the shared 2-core machine (load ~2.5): lateness p99 90-130 µs, max 0.5-1.3
    ms with SCHED_FIFO; p99 0.4-5 ms, max 4-9 ms with nice -10 alone. It cannot hog a core: it
    blocks in select() whenever no packet is due, and the kernel's RT throttling
    (sched_rt_runtime_us) leaves 5 % of each core to others even under a flood. Best effort:
    returns the policy obtained ("fifo", "nice" or "normal")."""
    got = "normal"
    try:
        if not realtime:
            raise OSError("not asked")
        # RESET_ON_FORK: the `ip` run at exit (device_drops) is not made real-time too.
        os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(10))
        got = "fifo"
    except OSError:
        try:
            os.nice(-10)
            got = "nice"
        except OSError:
            pass
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_TIMERSLACK, 1000, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    return got


def build_parser():
    p = argparse.ArgumentParser(prog="netdelay.py", description="user-space link emulator over two TUN devices")
    p.add_argument("--client-ns", type=int, required=True, help="PID of a process in the client's network namespace")
    p.add_argument("--gateway-ns", type=int, required=True, help="PID of a process in the gateway's namespace")
    p.add_argument("--rtt", type=parse_duration_ms, default=0.0, help="round-trip time added, e.g. 180ms")
    p.add_argument("--jitter", type=parse_duration_ms, default=0.0, help="RTT varies by ± this much (uniform)")
    p.add_argument("--loss", type=parse_fraction, default=0.0, help="loss per packet and direction, e.g. 1%%")
    p.add_argument("--rate", type=parse_rate_bps, default=0.0, help="bits/s per direction, e.g. 100mbit")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--reorder", action="store_true", help="let jitter reorder packets")
    p.add_argument("--no-realtime", dest="realtime", action="store_false",
                   help="run at nice -10 instead of SCHED_FIFO (more lateness under CPU load)")
    p.add_argument("--limit-packets", type=int, default=10000)
    p.add_argument("--limit-bytes", type=int, default=32 << 20)
    p.add_argument("--client-addr", default="10.77.0.1")
    p.add_argument("--gateway-addr", default="10.77.0.2")
    p.add_argument("--client-addr6", default="fd77::1")
    p.add_argument("--gateway-addr6", default="fd77::2")
    return p


def main(argv):
    a = build_parser().parse_args(argv)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    fd_c, name_c = open_tun("wsfc%d")
    fd_g, name_g = open_tun("wsfg%d")
    place_tun(name_c, a.client_ns, a.client_addr, a.gateway_addr, a.client_addr6, a.gateway_addr6)
    place_tun(name_g, a.gateway_ns, a.gateway_addr, a.client_addr, a.gateway_addr6, a.client_addr6)
    policy = sharpen_timing(a.realtime)  # after the `ip` children, which must not inherit it
    one_way, jitter = a.rtt / 2000.0, a.jitter / 2000.0
    common = dict(delay_s=one_way, jitter_s=jitter, loss=a.loss, rate_bps=a.rate, reorder=a.reorder,
                  limit_packets=a.limit_packets, limit_bytes=a.limit_bytes)
    dirs = [LinkDirection("client_to_gateway", seed=a.seed, **common),
            LinkDirection("gateway_to_client", seed=a.seed + 1, **common)]
    settings = {"rtt_ms": a.rtt, "jitter_ms": a.jitter, "loss": a.loss, "rate_bps": a.rate, "seed": a.seed,
                "reorder": a.reorder, "limit_packets": a.limit_packets, "limit_bytes": a.limit_bytes,
                "scheduling": policy}
    sys.stdout.write(json.dumps({"ready": True, "client_dev": name_c, "gateway_dev": name_g,
                                 "client_addr": a.client_addr, "gateway_addr": a.gateway_addr,
                                 "client_addr6": a.client_addr6, "gateway_addr6": a.gateway_addr6,
                                 "settings": settings}) + "\n")
    sys.stdout.flush()
    t0 = time.monotonic()
    forward([fd_c, fd_g], dirs, lambda: bool(stopping))
    out = {"settings": settings, "seconds": round(time.monotonic() - t0, 3)}
    for d in dirs:
        out[d.name] = d.counters()
    out["client_to_gateway"]["device_drops"] = device_drops(name_c, a.client_ns)
    out["gateway_to_client"]["device_drops"] = device_drops(name_g, a.gateway_ns)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
