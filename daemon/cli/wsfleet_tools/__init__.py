"""wsfleet_tools: the Python side of wsfleet (control client, `wsfleet` CLI, report, repro).

Modules (ARCHITECTURE.md, "The Python CLI"):
    client          msgpack-RPC client of the control protocol (protocol/PROTOCOL.md)
    cli             the `wsfleet` command; main(argv) -> exit status (the console entry point)
    report          `wsfleet report`: an event log -> numbers, verdict, HTML
    repro           `wsfleet repro`: options and the order of work
    repro_scenario  the gateway model, the phases and what each should show (no I/O)
    repro_runner    starts the mock gateway and wsfleetd, drives JMeter-like sessions, collects
    repro_render    the text tables, the --json document, the --html page
    programs        where wsfleetd and the mock gateway are (environment, build tree, installed, PATH)
Subcommand modules (report, repro) each have main(argv) -> int.
"""

__version__ = "0.1.0"
