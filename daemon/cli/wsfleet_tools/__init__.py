"""wsfleet_tools: the Python side of wsfleet (control client, `wsfleet` CLI, report, repro).

Modules: client (msgpack-RPC client, protocol/PROTOCOL.md), cli (the `wsfleet` command),
report and repro (subcommands, each with main(argv) -> int).
"""

__version__ = "0.1.0"
