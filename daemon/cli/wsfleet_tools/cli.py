"""The `wsfleet` command: talk to wsfleetd from a shell.

    wsfleet [--socket PATH | --tcp HOST:PORT --token-file FILE] [--timeout S] COMMAND ...

    call METHOD [key=value ...]   any method; values are JSON when they parse as JSON, else strings;
                                  dotted keys build maps (keepalive.mode=ping keepalive.interval_ms=200);
                                  {"$bin": "hex"} is sent as binary
    stats                         the daemon's counters
    status CONN                   one connection's state and close record
    list [--state S] [--limit N]  connection names
    report ...                    summarise an event log and name why sessions ended (wsfleet_tools.report;
                                  wsfleet report --help)
    repro ...                     run the reproduction (wsfleet_tools.repro)
    watch [--interval S] [--count N | --once] [--json]
                                  a live view: open/connecting, opens and drops per interval by cause,
                                  heartbeat lateness, loop lag, the verdict so far (wsfleet_tools.watch)

Results are printed as indented JSON (binary as {"$bin": "hex"}). An error response prints the
error map on stderr and exits 1; a usage error exits 2; no daemon to talk to exits 3.
"""

import argparse
import importlib
import json
import sys

from .client import Client, RpcError, default_socket_path

EXIT_OK, EXIT_RPC_ERROR, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3

# Subcommands written as their own modules, each with main(argv) -> int.
EXTERNAL = {"report": "wsfleet_tools.report", "repro": "wsfleet_tools.repro"}


class UsageError(Exception):
    pass


def parse_value(text):
    """JSON when it parses (numbers, true, null, lists, maps, quoted strings), else the text itself."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return from_json(value)


def from_json(value):
    """Turns {"$bin": "hex"} (anywhere inside) into bytes."""
    if isinstance(value, dict):
        if set(value) == {"$bin"} and isinstance(value["$bin"], str):
            try:
                return bytes.fromhex(value["$bin"])
            except ValueError:
                raise UsageError("$bin is not hex: %r" % value["$bin"])
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def to_json(value):
    """Makes a msgpack result printable: bytes become {"$bin": "hex"}."""
    if isinstance(value, (bytes, bytearray)):
        return {"$bin": bytes(value).hex()}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def parse_params(pairs):
    """["a=1", "keepalive.mode=ping"] -> {"a": 1, "keepalive": {"mode": "ping"}}."""
    params = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise UsageError("expected key=value, got %r" % pair)
        parts = key.split(".")
        if any(not p for p in parts):
            raise UsageError("empty name in key %r" % key)
        node = params
        for p in parts[:-1]:
            child = node.setdefault(p, {})
            if not isinstance(child, dict):
                raise UsageError("%r is both a value and a map" % p)
            node = child
        if parts[-1] in node and isinstance(node[parts[-1]], dict):
            raise UsageError("%r is both a map and a value" % key)
        node[parts[-1]] = parse_value(text)
    return params


def dump(value, out):
    json.dump(to_json(value), out, indent=2, ensure_ascii=False, sort_keys=False)
    out.write("\n")


def connect(opts):
    if opts["tcp"]:
        token = None
        if opts["token_file"]:
            with open(opts["token_file"]) as f:
                token = f.read().strip()
        return Client(tcp=opts["tcp"], token=token, timeout=opts["timeout"], client_name="wsfleet-cli")
    return Client(opts["socket"], timeout=opts["timeout"])


def run_call(opts, method, params, out, err):
    try:
        client = connect(opts)
    except (OSError, EOFError) as e:
        where = opts["tcp"] or opts["socket"] or default_socket_path()
        err.write("wsfleet: cannot reach wsfleetd at %s: %s\n" % (where, e))
        return EXIT_UNREACHABLE
    with client:
        try:
            result = client.call(method, params)
        except RpcError as e:
            dump({"error": e.as_dict()}, err)
            return EXIT_RPC_ERROR
        except (OSError, EOFError) as e:
            err.write("wsfleet: control connection failed: %s\n" % e)
            return EXIT_UNREACHABLE
    dump(result, out)
    return EXIT_OK


def run_external(name, argv, err):
    try:
        module = importlib.import_module(EXTERNAL[name])
    except ImportError as e:
        if e.name != EXTERNAL[name]:
            raise
        err.write("wsfleet: the %r command is not installed (module %s is missing)\n" % (name, EXTERNAL[name]))
        return EXIT_USAGE
    return module.main(argv)


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so main() returns the exit code."""

    def error(self, message):
        raise UsageError(message if self.prog == "wsfleet" else "%s: %s" % (self.prog, message))


def _call_parser(p):
    p.add_argument("method")
    p.add_argument("params", nargs="*", metavar="key=value")


def _status_parser(p):
    p.add_argument("conn")


def _list_parser(p):
    p.add_argument("--state")
    p.add_argument("--limit", type=int)


# The daemon's own commands: name -> (what it does, how its arguments parse). report, repro and
# watch parse their own arguments (their modules' main).
COMMANDS = {
    "call": ("any method", _call_parser),
    "stats": ("the daemon's counters", lambda p: None),
    "status": ("one connection's state and close record", _status_parser),
    "list": ("connection names", _list_parser),
}
OWN_PARSER = {"report": "summarise an event log", "repro": "run the reproduction", "watch": "a live view"}


def parser():
    """The global options, then COMMAND and its arguments (parsed by the command's own parser)."""
    ap = _Parser(prog="wsfleet", add_help=False)
    ap.add_argument("-h", "--help", action="store_true")
    ap.add_argument("--socket", metavar="PATH")
    ap.add_argument("--tcp", metavar="HOST:PORT")
    ap.add_argument("--token-file", metavar="FILE")
    ap.add_argument("--timeout", type=float, default=30, metavar="S")
    ap.add_argument("command", nargs="?", choices=sorted(list(COMMANDS) + list(OWN_PARSER) + ["help"]),
                    metavar="COMMAND")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    return ap


def command_parser(name):
    words, setup = COMMANDS[name]
    p = _Parser(prog="wsfleet " + name, description=words)
    setup(p)
    return p


def main(argv=None, out=None, err=None):
    out = out or sys.stdout
    err = err or sys.stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        a = parser().parse_args(argv)
        if a.help or a.command == "help":
            out.write(__doc__)
            return EXIT_OK
        if not a.command:
            raise UsageError("no command")
        opts = {"socket": a.socket, "tcp": a.tcp, "token_file": a.token_file, "timeout": a.timeout}
        if a.command == "watch":
            from . import watch  # it takes the connection options too
            return watch.main(a.args, opts, out, err)
        if a.command in OWN_PARSER:
            return run_external(a.command, a.args, err)
        c = command_parser(a.command).parse_args(a.args)
        if a.command == "call":
            return run_call(opts, c.method, parse_params(c.params), out, err)
        if a.command == "stats":
            return run_call(opts, "stats", {}, out, err)
        if a.command == "status":
            return run_call(opts, "status", {"conn": c.conn}, out, err)
        params = {k: v for k, v in (("state", c.state), ("limit", c.limit)) if v is not None}
        return run_call(opts, "list", params, out, err)
    except UsageError as e:
        err.write("wsfleet: %s\n(see wsfleet --help)\n" % e)
        return EXIT_USAGE
    except SystemExit as e:  # a command's --help
        return EXIT_OK if not e.code else EXIT_USAGE
    except ValueError as e:
        err.write("wsfleet: %s\n" % e)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
