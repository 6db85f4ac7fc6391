"""The lab course (labs/): every exercise is complete, its self-check passes on the
reference solution and fails on the untouched starter files with a hint for every
failure — on a real emulated WAN, as a student runs it (`slicectl lab check NN`)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from slicectl import lab
from tests.conftest import REPO

EXERCISES = lab.exercises()
IDS = [e.slug for e in EXERCISES]


def slicectl(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "slicectl.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def items(report: str) -> list[tuple[str, str, list[str]]]:
    """(mark, item text, following lines) for every item of a check's report."""
    out = []
    for line in report.splitlines():
        m = re.match(r"\[(.{4})\] \d+\. (.*)", line)
        if m:
            out.append((m.group(1).strip(), m.group(2), []))
        elif out and line.startswith("         "):
            out[-1][2].append(line.strip())
    return out


def test_the_course_has_seven_complete_exercises():
    assert [e.number for e in EXERCISES] == [f"{n:02d}" for n in range(1, len(EXERCISES) + 1)]
    assert len(EXERCISES) >= 7
    for ex in EXERCISES:
        mod = ex.module()
        assert mod.TITLE and mod.MINUTES > 0 and len(mod.ITEMS) >= 4, ex.slug
        readme = (ex.path / "README.md").read_text()
        assert readme.startswith(f"# Lab {int(ex.number)} — "), ex.slug
        diagram = re.search(r"!\[[^]]*\]\(([^)]+)\)", readme)
        assert diagram and (ex.path / diagram.group(1)).is_file(), f"{ex.slug}: diagram"
        assert f"slicectl lab check {ex.number}" in readme, ex.slug
        starters = {p.name for p in ex.path.iterdir() if p.is_file()} - {"README.md", "check.py", "wan.svg"}
        solutions = {p.name for p in (ex.path / "solution").iterdir()}
        assert starters and starters == solutions, f"{ex.slug}: every starter file has its solution"
        for name in starters:
            assert (ex.path / name).read_text() != (ex.path / "solution" / name).read_text(), name


def test_the_main_readme_and_the_course_index_link_every_exercise():
    main = (REPO / "README.md").read_text()
    index = (REPO / "labs" / "README.md").read_text()
    assert "labs/README.md" in main and "hours" in main
    for ex in EXERCISES:
        assert f"{ex.slug}/README.md" in index, ex.slug
    assert "INSTRUCTORS.md" in index and (REPO / "labs" / "INSTRUCTORS.md").is_file()


def test_lab_list_and_unknown_exercises():
    r = slicectl("lab", "list")
    assert r.returncode == 0, r.stderr
    for ex in EXERCISES:
        assert ex.module().TITLE in r.stdout
    r = slicectl("lab", "check", "99")
    assert r.returncode == 2 and "no exercise '99'" in r.stderr and "Traceback" not in r.stderr


def test_the_report_marks_unchecked_items_and_scores(tmp_path):
    ex = EXERCISES[0]
    result = lab.Result(ex, "A title", tmp_path, [lab.Item("a", "first", True, "fine"), lab.Item("b", "second", False, "x", "do y"),
                                       lab.Item("c", "third")], seconds=1)
    text = lab.format_result(result)
    assert "[ ok ] 1. first" in text and "hint: do y" in text and "not checked" in text
    assert "Lab 01: A title" in text and "score: 1/3" in text and not result.passed


@pytest.mark.mininet
@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_the_reference_solution_passes(exercise):
    r = slicectl("lab", "check", exercise.number, "--solution")
    got = items(r.stdout)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert got and all(mark == "ok" for mark, _, _ in got), r.stdout
    assert "Traceback" not in r.stderr


@pytest.mark.mininet
@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_the_untouched_starter_fails_with_a_hint_for_every_failure(exercise, tmp_path):
    work = tmp_path / exercise.slug
    shutil.copytree(exercise.path, work, ignore=shutil.ignore_patterns("solution", "__pycache__"))
    r = slicectl("lab", "check", exercise.number, "--work", str(work))
    got = items(r.stdout)
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-2000:]
    failed = [(text, lines) for mark, text, lines in got if mark == "FAIL"]
    assert failed, r.stdout
    for text, lines in failed:
        hints = [l for l in lines if l.startswith("hint: ")]
        assert hints and len(hints[0]) > 20, f"{text}: no useful hint in {lines}"
    assert "Traceback" not in r.stderr and "could not finish" not in r.stdout
    assert len(got) == len(exercise.module().ITEMS)
