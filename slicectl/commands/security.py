"""``slicectl certs`` and ``slicectl token``: the credentials a controller and its clients
use (a local CA and certificates for labs and tests; bearer tokens)."""
from __future__ import annotations

import argparse
import json
import os

from slicectl.commands.common import EXIT_OK, Subparsers, fail


def register(sub: Subparsers) -> None:
    """``certs`` and ``token new``."""
    ce = sub.add_parser("certs", help="make a local CA and TLS certificates for the controller and its "
                        "clients (openssl; for labs and tests)")
    ce.add_argument("directory", help="where to write ca.pem, server.pem/.key and NAME.pem/.key")
    ce.add_argument("--client", action="append", default=[], metavar="NAME",
                    help="a client certificate for NAME (its tenant, or an --admin of the controller); "
                    "repeatable")
    ce.add_argument("--host", action="append", default=[], metavar="HOST",
                    help="another name or address the controller is reached at (besides localhost)")
    ce.set_defaults(func=cmd_certs)
    tok = sub.add_parser("token", help="bearer tokens for the API").add_subparsers(dest="action", required=True)
    tn = tok.add_parser("new", help="a new token: its secret, and the line for the controller's tokens file")
    tn.add_argument("--name", required=True, help="who holds it (shown in logs)")
    role = tn.add_mutually_exclusive_group(required=True)
    role.add_argument("--tenant", help="the tenant it acts for")
    role.add_argument("--admin", action="store_true", help="an operator's: sees and does everything")
    tn.add_argument("--out", metavar="FILE", help="write the secret to FILE (mode 600) instead of printing it")
    tn.set_defaults(func=cmd_token_new)


def cmd_certs(args: argparse.Namespace) -> int:
    """Write the CA, the server's and each client's certificate; print the paths."""
    from slicectl.certs import CertError, make_all
    try:
        written = make_all(args.directory, args.client, args.host)
    except CertError as e:
        return fail(e)
    for path in written:
        print(path)
    return EXIT_OK


def cmd_token_new(args: argparse.Namespace) -> int:
    """A new secret and the tokens-file line with its digest: the controller keeps only the
    digest, so the secret is shown (or written with mode 600) once, here."""
    from proto.tokens import new_secret
    secret, digest = new_secret()
    who = "role: admin" if args.admin else f"tenant: {json.dumps(args.tenant)}"
    entry = f"  - {{name: {json.dumps(args.name)}, {who}, sha256: {digest}}}"
    if args.out:
        try:
            fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as e:
            return fail(f"--out {args.out}: {e.strerror}")
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
        print(f"# add under 'tokens:' in the controller's --tokens file (the secret is in {args.out}):\n{entry}")
    else:
        print(f"# add under 'tokens:' in the controller's --tokens file:\n{entry}\n"
              f"# the secret (stored nowhere else; slicectl --token-file or SLICECTL_TOKEN):\n{secret}")
    return EXIT_OK
