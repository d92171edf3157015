#!/usr/bin/env python3
"""The daemon's module graph as the linker sees it, and its cycles.

    .ci/module_graph.py [--build DIR] [--symbols] [--dot] [--fail-on-cycle] [--allow a,b,c ...]

Reads every object file of the daemon (DIR/daemon/**/*.c.o: wsfleetd and its core library) and
of the control codec (DIR/protocol/**/*.c.o) with `nm`. A module is one source file (conn.c.o ->
conn), or the files of a module split by concern, named <module>_<part>.c (conn_dial.c.o -> conn):
they share a private <module>_internal.h and call each other freely. Module A depends on module B when A has an undefined symbol that B defines: a call, or a
use of B's global data. Header-only dependencies (types, macros, static inline functions) are
not visible in object files, and neither are calls through function pointers: those are the
callback tables, which is the point: a callback is a dependency turned around.

Prints each module with what it uses (--symbols: which symbols), then the cycles: every strongly
connected component of more than one module, with the edges inside it. --dot prints Graphviz
instead. Exit status 0; with --fail-on-cycle, 1 when a cycle is not within one of the --allow
sets (each a comma-separated list of modules), so the known cycles can be listed while no new
one may appear; 2 when there are no object files (build first: ninja -C build).
"""

import argparse
import collections
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.normpath(os.path.join(HERE, ".."))
# Object files of these source folders make up the graph (tests/ and the mock gateway are users
# of the core, not part of it).
FOLDERS = ("daemon", "protocol")


def objects(build):
    out = []
    for folder in FOLDERS:
        out += glob.glob(os.path.join(build, folder, "**", "*.c.o"), recursive=True)
    return sorted(out)


def module_of(obj):
    return os.path.basename(obj)[:-len(".c.o")].split("_")[0]


def symbols(obj):
    """(defined, undefined) global symbol names of one object file."""
    text = subprocess.run(["nm", "-P", obj], check=True, capture_output=True, text=True).stdout
    defined, undefined = set(), set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        if kind in ("U", "w", "v"):
            undefined.add(name)
        elif kind.isupper():
            defined.add(name)
    return defined, undefined


def graph(build):
    """{module: {dependency: sorted symbols}} for every module with object files."""
    defined_by, undefined_in = {}, collections.defaultdict(set)
    for obj in objects(build):
        mod = module_of(obj)
        d, u = symbols(obj)
        for name in d:
            defined_by.setdefault(name, mod)
        undefined_in[mod] |= u
    modules = set(undefined_in)
    edges = {m: {} for m in modules}
    for mod, names in undefined_in.items():
        uses = collections.defaultdict(list)
        for name in names:
            dep = defined_by.get(name)
            if dep and dep != mod:
                uses[dep].append(name)
        edges[mod] = {dep: sorted(names) for dep, names in uses.items()}
    return edges


def strongly_connected(edges):
    """Tarjan's algorithm; returns the components, each a sorted list, largest first."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(out, key=lambda c: (-len(c), c))


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.environ.get("WSF_BUILD_DIR") or os.path.join(SOURCE_DIR, "build"))
    ap.add_argument("--symbols", action="store_true", help="list the symbols behind each dependency")
    ap.add_argument("--dot", action="store_true", help="print the graph for Graphviz")
    ap.add_argument("--fail-on-cycle", action="store_true", help="exit 1 on a cycle not covered by --allow")
    ap.add_argument("--allow", action="append", default=[], metavar="A,B,...",
                    help="a set of modules that may form a cycle (repeatable)")
    a = ap.parse_args(argv)
    if not objects(a.build):
        sys.stderr.write("module_graph: no object files under %s/{%s}: build first (ninja -C build)\n"
                         % (a.build, ",".join(FOLDERS)))
        return 2
    edges = graph(a.build)
    cycles = [c for c in strongly_connected(edges) if len(c) > 1]
    if a.dot:
        print("digraph wsfleetd {")
        for m in sorted(edges):
            for dep in sorted(edges[m]):
                print('  "%s" -> "%s";' % (m, dep))
        print("}")
        return 0
    print("module graph of %s (A -> what A uses)" % a.build)
    for m in sorted(edges):
        print("  %-10s -> %s" % (m, ", ".join(sorted(edges[m])) or "-"))
        if a.symbols:
            for dep in sorted(edges[m]):
                print("      %-10s %s" % (dep + ":", " ".join(edges[m][dep])))
    allowed = [set(s.split(",")) for s in a.allow]
    new = []
    print("cycles: %d" % len(cycles))
    for c in cycles:
        known = any(set(c) <= s for s in allowed)
        if not known:
            new.append(c)
        print("  {%s}%s" % (", ".join(c), "" if known or not allowed else "  (not allowed)"))
        for m in c:
            for dep in sorted(edges[m]):
                if dep in c:
                    print("      %s -> %s: %s" % (m, dep, " ".join(edges[m][dep])))
    if a.fail_on_cycle and new:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
