#!/usr/bin/env python3
"""Checks what docker/compose.yaml left in its results volume after a run of chat.jmx:

  chat.jtl                    the controller's JTL: every worker's samples, none failed
  events-WORKER.jsonl         each worker's daemon: its own connections only, a clean stop
  report/statistics.json      JMeter's dashboard, counting the same samples

Usage: check_results.py RESULTS_DIR --threads N --workers worker1,worker2
Prints what it found; exits 1 with the first mismatch."""

import argparse
import csv
import json
import os
import sys


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def read_events(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--threads", type=int, required=True, help="JMeter threads per worker")
    ap.add_argument("--workers", required=True, help="comma-separated worker host names, as in -R")
    ap.add_argument("--rmi-port", type=int, default=1099)
    ap.add_argument("--url", default="ws://mockgw:8080/")
    args = ap.parse_args()
    workers = args.workers.split(",")
    n = args.threads

    jtl = os.path.join(args.results, "chat.jtl")
    check(os.path.exists(jtl), "no chat.jtl in %s" % args.results)
    with open(jtl, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    check(rows, "chat.jtl is empty")
    failed = [r for r in rows if r["success"] != "true"]
    check(not failed, "%d failed samples, e.g. %r" % (len(failed), failed[:2]))
    # Hostname is the machine that ran the sample (jmeter.save.saveservice.hostname=true).
    check({r["Hostname"] for r in rows} == set(workers), "samples from %s" % {r["Hostname"] for r in rows})

    for w in workers:
        prefix = "%s:%d-" % (w, args.rmi_port)  # JMeter names remote threads after the -R entry
        mine = [r for r in rows if r["Hostname"] == w]
        check(all(r["threadName"].startswith(prefix) for r in mine), "%s: thread names %s" % (
            w, {r["threadName"] for r in mine}))

        def count(label):
            return len([r for r in mine if r["label"] == label])
        opens = [r for r in mine if r["label"] == "open"]
        check(sorted(r["threadName"][len(prefix):] for r in opens) == sorted(
            "guests 1-%d" % i for i in range(1, n + 1)), "%s: opens %s" % (w, [r["threadName"] for r in opens]))
        check(all(r["responseCode"] == "101" for r in opens), "%s: open codes" % w)
        check(count("configureSession") == n, "%s: %d configureSession" % (w, count("configureSession")))
        asked, answered = count("send message"), count("agent reply")
        check(asked >= n and answered >= asked - n, "%s: %d messages, %d agent replies" % (w, asked, answered))
        resets = [r["responseMessage"] for r in mine if r["label"] == "reset wsfleet"]
        check([m.split(",")[0] for m in resets] == ["closed %d" % n], "%s: reset said %s" % (w, resets))
        print("%s: %d samples, %d sessions, %d messages, %d agent replies" % (w, len(mine), len(opens), asked, answered))

        # Its daemon opened this worker's connections and no one else's, and stopped cleanly.
        path = os.path.join(args.results, "events-%s.jsonl" % w)
        check(os.path.exists(path), "no event log from %s's daemon" % w)
        events = read_events(path)
        kinds = [e["event"] for e in events]
        check(kinds[0] == "start" and kinds[-1] == "stop", "%s: events %s ... %s" % (w, kinds[:2], kinds[-2:]))
        ev_opens = [e for e in events if e["event"] == "open"]
        check(sorted(e["conn"] for e in ev_opens) == sorted("vu-%d" % i for i in range(1, n + 1)),
              "%s daemon opened %s" % (w, [e["conn"] for e in ev_opens]))
        check({e["url"] for e in ev_opens} == {args.url}, "%s daemon urls" % w)
        check(kinds.count("close") == n, "%s daemon: %d close events" % (w, kinds.count("close")))
        print("%s daemon: %s" % (w, {k: kinds.count(k) for k in sorted(set(kinds))}))

    stats = os.path.join(args.results, "report", "statistics.json")
    check(os.path.exists(stats), "no HTML dashboard (report/statistics.json)")
    with open(stats) as f:
        total = json.load(f)["Total"]
    check(total["sampleCount"] == len(rows) and total["errorCount"] == 0, "dashboard Total %r" % total)
    print("dashboard: %d samples, 0 errors; JTL: %d samples from %s" % (total["sampleCount"], len(rows), workers))


if __name__ == "__main__":
    main()
