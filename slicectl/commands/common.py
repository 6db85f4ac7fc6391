"""What several command groups share: exit codes, progress and error lines, the options of
every command that talks to a controller, and how SIGTERM is handled."""
from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
from typing import TYPE_CHECKING, Callable

from proto.defaults import DEFAULT_GRPC

if TYPE_CHECKING:
    from slicectl.client import Server

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

Subparsers = argparse._SubParsersAction   # what add_subparsers returns; argparse has no public name for it
Handler = Callable[[argparse.Namespace], int]


def progress(msg: str) -> None:
    """A progress line on stderr, so that stdout carries only the result (a table, JSON)."""
    print(f"[slicectl] {msg}", file=sys.stderr, flush=True)


def fail(message: object, code: int = EXIT_USAGE) -> int:
    """Print the error line every command uses and return ``code``, for ``return fail(...)``."""
    print(f"slicectl: error: {message}", file=sys.stderr)
    return code


def positive(text: str) -> int:
    """argparse type for counts: a whole number of at least 1, with a message that says so."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(text)


OUTPUTS = ("table", "wide", "json", "yaml")


def add_client_options(p: argparse.ArgumentParser, top: bool = False) -> None:
    """The options of every command that calls the controller's API: where, how, as whom,
    and in which form the answer is printed. ``top``: on ``slicectl`` itself, where they
    may be given before the subcommand as with kubectl (``slicectl --server A list``); on a
    subcommand they default to nothing, so they override the top-level ones only when
    given there (argparse would otherwise reset them to their defaults)."""
    keep = {} if top else {"default": argparse.SUPPRESS}
    p.add_argument("--server", action="append", metavar="HOST:PORT", **keep,
                   help="controller gRPC address; give it once for each instance of a cluster (or "
                   "comma-separated): each call goes to the first that takes it (default: "
                   "$SLICECTL_SERVER, else %s)" % DEFAULT_GRPC)
    p.add_argument("-o", "--output", choices=OUTPUTS, **({"default": "table"} if top else keep),
                   help="table (default), wide (more columns), json or yaml")
    p.add_argument("--ca", metavar="FILE", **keep, help="TLS: the CA that signed the controller's certificate")
    p.add_argument("--cert", metavar="FILE", **keep, help="mutual TLS: this client's certificate")
    p.add_argument("--key", metavar="FILE", **keep, help="mutual TLS: its private key")
    p.add_argument("--token-file", metavar="FILE", **keep, help="a bearer token (first line of the file); "
                   "or set SLICECTL_TOKEN")


def server(args: argparse.Namespace) -> Server:
    """The controller the command talks to, with the TLS files and token it was given."""
    from slicectl.client import ClientError, Server
    token, source = os.environ.get("SLICECTL_TOKEN") or None, "$SLICECTL_TOKEN"
    if args.token_file:
        try:
            token = open(args.token_file, encoding="utf-8").readline().strip()
        except OSError as e:
            raise ClientError(f"--token-file {args.token_file}: {e.strerror}", EXIT_USAGE) from None
        source = f"--token-file {args.token_file}"
    if bool(args.cert) != bool(args.key):
        raise ClientError("--cert and --key go together", EXIT_USAGE)
    return Server(",".join(args.server or [os.environ.get("SLICECTL_SERVER") or DEFAULT_GRPC]),
                  args.ca, args.cert, args.key, token, source if token else None)


def client_command(fn: Callable[[argparse.Namespace], int | None]) -> Handler:
    """Run a client command; print ClientError messages, return their exit code. A command
    that returns nothing succeeded."""
    @functools.wraps(fn)
    def wrapped(args: argparse.Namespace) -> int:
        from slicectl.client import ClientError
        try:
            return fn(args) or EXIT_OK
        except ClientError as e:
            return fail(e, e.code)
    return wrapped


def sigterm_as_interrupt() -> None:
    """SIGTERM and SIGINT both mean: tear down and exit. (SIGINT is set explicitly: a
    shell starts background jobs with SIGINT ignored, and Python would inherit that.)"""
    def handler(_signum, _frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def show(data: object, output: str, table: Callable[..., str]) -> None:
    """Print an API answer as a table (``table(data)``; ``table(data, wide=True)`` for
    ``-o wide``) or rendered as JSON or YAML."""
    from slicectl import client
    if output in ("table", "wide"):
        print(table(data, wide=output == "wide"))
    else:
        print(client.render(client.as_data(data), output))


def show_slices(slices: list, output: str, empty: str | None = None) -> None:
    """Print slices as a table (wide or not; ``empty`` instead when there are none) or as
    a JSON or YAML list."""
    from slicectl import client
    if output not in ("table", "wide"):
        print(client.render([client.as_data(s) for s in slices], output))
    else:
        print(client.slice_rows(slices, wide=output == "wide") if slices or empty is None else empty)
