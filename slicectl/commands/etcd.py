"""``slicectl etcd``: a local etcd cluster for the lab and tests (up, status, down), in a
directory of its own (slicectl.etcdlab). Needs Debian's etcd-server, not root."""
from __future__ import annotations

import argparse

from slicectl.commands.common import EXIT_FAIL, EXIT_OK, Subparsers, fail, positive, progress, sigterm_as_interrupt

DEFAULT_DIR = "etcd-lab"


def register(sub: Subparsers) -> None:
    """``etcd up``, ``etcd status`` and ``etcd down``."""
    etcd = sub.add_parser("etcd", help="a local etcd cluster for a cluster of controllers (lab, tests)"
                          ).add_subparsers(dest="action", required=True)
    up = etcd.add_parser("up", help="start the members in the background (again on their data, if DIR has "
                         "them) and print the `slicectl controller` options that reach them")
    _add_dir(up)
    up.add_argument("--members", type=positive, default=3, metavar="N", help="etcd members (default: "
                    "%(default)s; 3 survives the loss of one)")
    up.add_argument("--tls", action="store_true", help="TLS as production etcd runs it: clients and peers over "
                    "TLS, client certificates required (made in DIR/tls)")
    up.add_argument("--heartbeat-ms", type=positive, metavar="MS", help="etcd's --heartbeat-interval (etcd's "
                    "default: 100)")
    up.add_argument("--election-ms", type=positive, metavar="MS", help="etcd's --election-timeout (etcd's "
                    "default: 1000; a dead etcd leader is replaced after 1-2 of these)")
    up.set_defaults(func=cmd_etcd_up)
    st = etcd.add_parser("status", help="every member: its process, its role (leader, follower), the URL")
    _add_dir(st)
    st.set_defaults(func=cmd_etcd_status)
    down = etcd.add_parser("down", help="stop the members `etcd up` started in DIR and remove their data "
                           "(nothing else: another etcd is left alone)")
    _add_dir(down)
    down.set_defaults(func=cmd_etcd_down)


def _add_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", default=DEFAULT_DIR, metavar="DIR", help="where the members' data, logs and "
                   "record (etcd.json) are (default: ./%(default)s)")


def cmd_etcd_up(args: argparse.Namespace) -> int:
    """Start (or start again) and print the controller options on stdout, alone, so that
    `slicectl controller ... $(slicectl etcd up)` works."""
    from slicectl.certs import CertError
    from slicectl.etcdlab import LabError, controller_options, up
    from slicectl.etcdlocal import Timing

    if args.heartbeat_ms and args.election_ms and args.election_ms < 5 * args.heartbeat_ms:
        return fail(f"--election-ms {args.election_ms} must be at least 5 times --heartbeat-ms "
                    f"{args.heartbeat_ms} (etcd's advice: 10 times)")
    sigterm_as_interrupt()
    try:
        state, done = up(args.dir, args.members, args.tls, Timing(args.heartbeat_ms, args.election_ms))
    except (LabError, CertError) as e:
        return fail(e)
    except (RuntimeError, TimeoutError) as e:
        return fail(e, EXIT_FAIL)
    except KeyboardInterrupt:
        return fail("interrupted: the members this command started were stopped, and a new cluster's data "
                    "removed", 130)
    progress(f"etcd in {args.dir}: {done}; `slicectl etcd down --dir {args.dir}` stops it")
    print(" ".join(controller_options(state)))
    return EXIT_OK


def cmd_etcd_status(args: argparse.Namespace) -> int:
    """A table of the members; exit 1 unless every member answers and one leads."""
    from slicectl.etcdlab import LabError, status
    try:
        state, members = status(args.dir)
    except LabError as e:
        return fail(e)
    rows = [("MEMBER", "PID", "PROCESS", "ROLE", "CLIENT URL")] + [
        (m.name, str(m.pid), m.process, m.role, m.client_url) for m in members]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(f"cluster {state['url']}{' (TLS)' if state.get('tls') else ''}")
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    healthy = all(m.role in ("leader", "follower") for m in members) and any(m.role == "leader" for m in members)
    if not healthy:
        progress("not every member answers with a leader elected")
    return EXIT_OK if healthy else EXIT_FAIL


def cmd_etcd_down(args: argparse.Namespace) -> int:
    from slicectl.etcdlab import LabError, down
    try:
        said, clean = down(args.dir)
    except LabError as e:
        return fail(e)
    for line in said:
        progress(line)
    return EXIT_OK if clean else EXIT_FAIL
