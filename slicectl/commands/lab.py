"""``slicectl lab``: the lab course in labs/ (list the exercises, check one)."""
from __future__ import annotations

import argparse

from slicectl.commands.common import EXIT_FAIL, EXIT_OK, Subparsers, fail, progress, sigterm_as_interrupt


def register(sub: Subparsers) -> None:
    """``lab list`` and ``lab check``."""
    lab = sub.add_parser("lab", help="the lab course in labs/: list the exercises, check your work "
                         "(needs root)").add_subparsers(dest="action", required=True)
    lab.add_parser("list", help="the exercises, their time, and their status on this machine").set_defaults(
        func=cmd_lab_list)
    lc = lab.add_parser("check", help="run an exercise's self-check on the emulated WAN: item by item, "
                        "with hints and a score; exit 0 only when everything holds")
    lc.add_argument("exercise", metavar="NN", help="the exercise number (01, 2, ...) or directory name")
    lc.add_argument("--solution", action="store_true", help="check the reference solution instead")
    lc.add_argument("--work", metavar="DIR", help="check the files in DIR (a copy of the exercise "
                    "directory, a student's hand-in) instead of the exercise directory")
    lc.set_defaults(func=cmd_lab_check)


def cmd_lab_list(args: argparse.Namespace) -> int:
    """The exercises with their time and status, and how to check one."""
    from slicectl import lab
    from slicectl.report import render_table
    rows = lab.list_rows()
    print(render_table(("lab", "title", "minutes", "your work", "reference solution"), rows, rule=True))
    total = sum(int(r[2]) for r in rows)
    print(f"\n{len(rows)} exercises, about {total / 60:.1f} hours in all; instructions in "
          f"labs/NN-name/README.md; check one with: sudo slicectl lab check NN")
    return EXIT_OK


def cmd_lab_check(args: argparse.Namespace) -> int:
    """One exercise's self-check (the student's work, another directory, or the solution)."""
    from slicectl import lab
    if args.solution and args.work:
        return fail("--solution and --work go separately")
    sigterm_as_interrupt()
    try:
        exercise = lab.find(args.exercise)
        result = lab.run_check(exercise, solution=args.solution, work=args.work, progress=progress)
    except lab.LabError as e:
        return fail(e)
    except KeyboardInterrupt:
        return 130
    print(lab.format_result(result))
    return EXIT_OK if result.passed else EXIT_FAIL
