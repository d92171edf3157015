"""The `wsfleet` command: talk to wsfleetd from a shell.

    wsfleet [--socket PATH | --tcp HOST:PORT --token-file FILE] [--timeout S] COMMAND ...

    call METHOD [key=value ...]   any method; values are JSON when they parse as JSON, else strings;
                                  dotted keys build maps (keepalive.mode=ping keepalive.interval_ms=200);
                                  {"$bin": "hex"} is sent as binary
    stats                         the daemon's counters
    status CONN                   one connection's state and close record
    list [--state S] [--limit N]  connection names
    report ...                    summarise an event log (wsfleet_tools.report)
    repro ...                     run the reproduction (wsfleet_tools.repro)

Results are printed as indented JSON (binary as {"$bin": "hex"}). An error response prints the
error map on stderr and exits 1; a usage error exits 2; no daemon to talk to exits 3.
"""

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


def _pop_option(argv, name, takes_value=True):
    """Removes `--name V` or `--name=V` from the front options of argv; returns V or None."""
    for i, arg in enumerate(argv):
        if not arg.startswith("-"):
            break
        if arg == name and takes_value:
            if i + 1 >= len(argv):
                raise UsageError("%s needs a value" % name)
            value = argv[i + 1]
            del argv[i:i + 2]
            return value
        if arg.startswith(name + "="):
            del argv[i]
            return arg.split("=", 1)[1]
    return None


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


def main(argv=None, out=None, err=None):
    out = out or sys.stdout
    err = err or sys.stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in ("-h", "--help", "help"):
            out.write(__doc__)
            return EXIT_OK
        opts = {
            "socket": _pop_option(argv, "--socket"),
            "tcp": _pop_option(argv, "--tcp"),
            "token_file": _pop_option(argv, "--token-file"),
            "timeout": float(_pop_option(argv, "--timeout") or 30),
        }
        if not argv:
            raise UsageError("no command")
        if argv[0].startswith("-"):
            raise UsageError("unknown option %s" % argv[0])
        cmd, rest = argv[0], argv[1:]
        if cmd in EXTERNAL:
            return run_external(cmd, rest, err)
        if cmd == "call":
            if not rest:
                raise UsageError("call needs a METHOD")
            return run_call(opts, rest[0], parse_params(rest[1:]), out, err)
        if cmd == "stats":
            if rest:
                raise UsageError("stats takes no arguments")
            return run_call(opts, "stats", {}, out, err)
        if cmd == "status":
            if len(rest) != 1:
                raise UsageError("status needs exactly one CONN")
            return run_call(opts, "status", {"conn": rest[0]}, out, err)
        if cmd == "list":
            params = {}
            state = _pop_option(rest, "--state")
            limit = _pop_option(rest, "--limit")
            if state is not None:
                params["state"] = state
            if limit is not None:
                params["limit"] = int(limit)
            if rest:
                raise UsageError("list: unexpected %s" % " ".join(rest))
            return run_call(opts, "list", params, out, err)
        raise UsageError("unknown command %r" % cmd)
    except UsageError as e:
        err.write("wsfleet: %s\n(see wsfleet --help)\n" % e)
        return EXIT_USAGE
    except ValueError as e:
        err.write("wsfleet: %s\n" % e)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
