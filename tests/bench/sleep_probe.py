#!/usr/bin/env python3
"""Scheduling-latency probe: sleeps for random 5-45 ms intervals for SECONDS and prints one JSON
line with how late it woke (p50/p99/max, ms). Run beside the daemon, it shows the lateness that
any process on this machine suffers at that moment (other tenants, CPU contention), so the
daemon's heartbeat lateness can be read against it.

    sleep_probe.py SECONDS
"""

import json
import random
import sys
import time


def main():
    seconds = float(sys.argv[1])
    end = time.monotonic() + seconds
    late = []
    while time.monotonic() < end:
        d = random.uniform(0.005, 0.045)
        due = time.monotonic() + d
        time.sleep(d)
        late.append(max(0.0, time.monotonic() - due) * 1e3)
    late.sort()

    def q(p):
        return late[min(len(late) - 1, int(p * len(late)))] if late else None

    print(json.dumps({"samples": len(late), "p50_ms": q(0.5), "p99_ms": q(0.99), "max_ms": late[-1] if late else None}))


if __name__ == "__main__":
    main()
