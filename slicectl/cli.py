"""``slicectl``: one command for the WAN emulation, the slice engine and the controller.

The subcommands are in slicectl/commands/, one module per group; this module puts them
together in one parser and runs the one asked for. Each subcommand imports only what it
needs, so ``slicectl topology show`` works without Mininet and ``slicectl wan`` without
os-ken.
"""
from __future__ import annotations

import argparse
import sys

from slicectl.commands import (bench, controller, demo, etcd, federation, lab, policy, schedule, security, slices,
                               topology, verify, wan)
from slicectl.commands.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, Handler, add_client_options, fail, progress

__all__ = ["EXIT_FAIL", "EXIT_OK", "EXIT_USAGE", "build_parser", "main", "progress"]

# the order of `slicectl --help`
GROUPS = (topology, controller, etcd, federation, security, policy, slices, schedule, verify, demo, bench, lab, wan)

EXIT_CODES = """exit codes: 0 ok; 1 refused or failed (admission, a conflict, a check that did not hold);
2 invalid input (options, spec or topology files); 3 not found; 4 the controller cannot be
reached (nothing listens, or TLS failed: the message says which and what to change) or
cannot act now (its store, a switch, a take-over: retry); 130 interrupted.

--server, --ca, --cert, --key, --token-file and -o go before or after the subcommand."""


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand; each sets ``func``, the handler that runs it."""
    parser = argparse.ArgumentParser(prog="slicectl", description=(
        "Network slicing for inter-cloud links: emulate the WAN, place slices, run the controller."),
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_client_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; errors a user can act on become one line and an exit code, not
    a traceback."""
    from topologies.emulation.platform import EmulationError
    from topologies.errors import TopologyError

    args = build_parser().parse_args(argv)
    func: Handler = args.func
    try:
        return func(args)
    except TopologyError as e:
        return fail(e, EXIT_USAGE)
    except EmulationError as e:
        return fail(e, EXIT_FAIL)
    except KeyboardInterrupt:
        print("slicectl: interrupted; everything was torn down", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
