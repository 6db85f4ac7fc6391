"""Every command the docs print works as written: docs and CLI cannot drift apart again.

Issue 29 found five README commands that failed exactly as printed (`wan up --topology`,
`slicectl --server A --server B apply`, `make certs` without a way to name the host, ...).
So every `slicectl …` line of README.md, labs/README.md, labs/INSTRUCTORS.md,
labs/*/README.md and `make help` — in code blocks and in inline code — is parsed by the real parser
(``slicectl.cli.build_parser``), in one form (``slicectl``/``sudo slicectl``, never a path
to the venv); those that need neither root nor a controller are run (`topology show`,
`spec check`, `lab list`, `certs`, `token new`, `--help`). Every `make TARGET VAR=…` the
docs name must be a target of the Makefile that reads that variable, and every slicectl
line a Makefile target runs (`make -n`) must parse too.

Notation the docs may use: ``[...]`` an optional part (parsed without it and with it),
``A | B`` alternatives inside brackets (the first is parsed), ``$(…)`` and ``$VAR`` sample
values (``localhost``, ``1``), CAPITALS a placeholder
(``NAME``, ``FILE``, ``HOST:PORT``: parsed with a sample value, never run), ``…`` an
abbreviation (only the command and its option names are checked). A bare group such as
`slicectl wan` is a reference to the group.
"""
from __future__ import annotations

import argparse
import contextlib
import glob
import io
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from slicectl import cli
from slicectl.commands.wan import wan_topology
from topologies.errors import TopologyError

REPO = Path(__file__).resolve().parent.parent
DOCS = ["README.md", "labs/README.md", "labs/INSTRUCTORS.md",
        *sorted(str(p.relative_to(REPO)) for p in REPO.glob("labs/*/README.md"))]
PROGRAM = re.compile(r"^(?:\w+=\S*\s+)*(?:sudo\s+(?:-E\s+)?)?(\S*slicectl)(?=\s|$)(.*)$", re.S)
MAKE = re.compile(r"^(?:sudo\s+)?make\s+(.*)$", re.S)
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*(?::[A-Z]+)?(?:,[A-Z0-9_]+)*$")
SAMPLES = {"N": "2", "NN": "01", "HOST:PORT": "127.0.0.1:50051", "MS": "1", "SECONDS": "1", "K": "2"}
ABBREVIATIONS = ("…", "...")
# run for real: they need neither root nor a controller (certs and token new write files:
# they run in a scratch directory)
RUN_HERE = {("topology", "show"), ("spec", "check"), ("lab", "list")}
RUN_IN_SCRATCH = {("certs",), ("token", "new")}


@dataclass(frozen=True)
class Doc:
    """One command found in the docs: where (file:line) and its text."""

    where: str
    text: str


# -- extraction ------------------------------------------------------------------------------

def _code_lines(path: str) -> list[tuple[int, str]]:
    """(line number, command text) of fenced and indented code lines, continuations joined."""
    out, fenced, pending = [], False, None
    for n, raw in enumerate((REPO / path).read_text(encoding="utf-8").splitlines(), 1):
        if raw.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not (fenced or raw.startswith("    ")):
            pending = None
            continue
        if pending is not None:
            out[-1] = (pending, out[-1][1].rstrip("\\").rstrip() + " " + raw.strip())
        else:
            out.append((n, raw.strip()))
            pending = n
        if not raw.rstrip().endswith("\\"):
            pending = None
    return out


def _inline_spans(path: str) -> list[tuple[int, str]]:
    """(line number, text) of inline code spans outside code blocks (they may wrap lines)."""
    text = (REPO / path).read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return [(text.count("\n", 0, m.start()) + 1, " ".join(m.group(1).split()))
            for m in re.finditer(r"`([^`]+)`", text)]


def make_help() -> list[str]:
    """The lines `make help` prints (empty without make)."""
    if not shutil.which("make"):
        return []
    r = subprocess.run(["make", "-s", "--no-print-directory", "help"], cwd=REPO, capture_output=True,
                       text=True, timeout=60)
    return r.stdout.splitlines()


def doc_lines() -> list[Doc]:
    """Every code line and inline span of the docs, and every line of `make help`."""
    found = []
    for path in DOCS:
        for n, text in _code_lines(path) + _inline_spans(path):
            found.append(Doc(f"{path}:{n}", text))
    found += [Doc(f"make help:{n}", line.strip()) for n, line in enumerate(make_help(), 1)]
    return found


def slicectl_commands(docs: list[Doc]) -> list[tuple[Doc, str, list[str]]]:
    """(doc, the program as written, its words) of every slicectl command, one per shell
    command (a line may hold several, joined by ; && ||)."""
    out = []
    for d in docs:
        for part in re.split(r";|&&|\|\||\bdo\b", re.sub(r"\$\([^)]*\)", "localhost", d.text)):
            m = PROGRAM.match(part.strip())
            if m:
                out.append((d, m.group(1), _words(m.group(2))))
    return out


def _words(text: str) -> list[str]:
    """Shell words of a command's arguments up to a pipe, redirection, background or comment
    (a pipe inside [...] is an alternative, kept); $VAR and $(…) become sample values."""
    text = re.sub(r"\$\{?\w+\}?", "1", re.sub(r"\$\([^)]*\)", "localhost", text))
    lex = shlex.shlex(text, posix=True, punctuation_chars="|&<>")
    lex.whitespace_split, lex.commenters = True, "#"
    words, depth = [], 0
    for w in lex:
        if w[0] in "|&<>" and depth == 0:
            break
        depth += w.count("[") - w.count("]")
        words.append(w)
    return words


def variants(words: list[str]) -> list[list[str]]:
    """The command without its optional [...] parts, and with them (the first of A | B);
    placeholders replaced by sample values."""
    bare, full, depth, skip = [], [], 0, False
    for w in words:
        opened = w.count("[")
        depth_before, depth = depth, depth + opened - w.count("]")
        word = w.replace("[", "").replace("]", "")
        if depth_before == 0 and opened == 0 and word:
            bare.append(word)
        if skip:
            skip = False
        elif word == "|":
            skip = True
        elif word:
            full.append(word)
    sample = lambda ws: [SAMPLES.get(w, w) for w in ws if w not in ABBREVIATIONS]  # noqa: E731
    return [sample(bare)] if bare == full else [sample(bare), sample(full)]


# -- checking against the parser -------------------------------------------------------------

def parse(argv: list[str]) -> tuple[argparse.Namespace | None, str]:
    """(namespace, "") if the real parser takes ``argv``, else (None, its error line)."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            ns = cli.build_parser().parse_args(argv)
        if hasattr(ns, "topology_option"):      # a WAN command: its topology as argument or option
            wan_topology(ns)
        return ns, ""
    except TopologyError as e:
        return None, str(e)
    except SystemExit as e:
        if e.code == 0:      # --help
            return argparse.Namespace(), ""
        return None, (err.getvalue().strip().splitlines() or ["?"])[-1]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})


def command_path(words: list[str]) -> tuple[list[str], list[str]]:
    """The (sub)command names in ``words`` (slicectl's global options and their values
    skipped), and the option names known where they lead (its own and the global ones)."""
    top = parser = cli.build_parser()
    takes_value = {o for a in top._actions if a.nargs != 0 for o in a.option_strings}
    path, skip = [], False
    for w in words:
        if skip or w.startswith("-"):
            skip = not skip and w in takes_value
            continue
        sub = _subcommands(parser)
        if w not in sub:
            break
        parser = sub[w]
        path.append(w)
    return path, [o for p in (top, *_below(parser)) for a in p._actions for o in a.option_strings]


def _below(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parser and every subcommand's under it."""
    return [parser, *(p for sub in _subcommands(parser).values() for p in _below(sub))]


def problem(program: str, words: list[str]) -> str | None:
    """Why this command, as the docs print it, would not work; None if it would."""
    if program != "slicectl" and words:
        return f"written as {program!r}: the docs use `slicectl` (`sudo slicectl` for root) throughout"
    if any(a in w for w in words for a in ABBREVIATIONS) and not [w for w in words if w not in ABBREVIATIONS]:
        return None                                   # `slicectl …`: the program itself
    words = [w for w in words if w.strip("[]")]
    path, options = command_path([w.strip("[]") for w in words])
    unknown = [w for w in words if w.startswith(("-", "[-")) and w.strip("[]").split("=")[0] not in options]
    if not path:
        if words and not all(w.startswith(("-", "[-")) or PLACEHOLDER.match(w.strip("[]")) for w in words):
            return "no such command"
        return f"unknown options {unknown}" if unknown else None      # a reference to global options
    if all(w.startswith(("-", "[-")) for w in words if w not in path) or len(path) == len(words):
        return f"unknown options {unknown}" if unknown else None    # a reference to a command, its options
    if any(a in w for w in words for a in ABBREVIATIONS):
        return f"unknown options {unknown}" if unknown else None
    for argv in variants(words):
        _ns, err = parse(argv)
        if err:
            return f"{' '.join(argv)}: {err}"
    return None


def test_every_slicectl_command_in_the_docs_parses_as_written():
    commands = slicectl_commands(doc_lines())
    assert len(commands) > 100, "the extraction found too few commands: is it broken?"
    broken = [f"{d.where}: `{d.text}`: {why}" for d, program, words in commands
              for why in [problem(program, words)] if why]
    assert not broken, f"{len(broken)} of {len(commands)} documented commands fail:\n" + "\n".join(broken)


def _runnable(words: list[str]) -> str | None:
    """Which kind of run a command gets ("here", "scratch"), or None: not run."""
    argv = variants(words)[-1]
    if any(PLACEHOLDER.match(w) for w in argv) or any(a in w for w in words for a in ABBREVIATIONS) \
            or parse(argv)[0] is None:
        return None
    if "--help" in argv or "-h" in argv:
        return "here"
    path = tuple(command_path(argv)[0])
    return "here" if path in RUN_HERE else "scratch" if path in RUN_IN_SCRATCH else None


def test_commands_that_need_no_root_and_no_controller_run_as_written(tmp_path, monkeypatch, capsys):
    """Run from the repository (the docs' paths are relative to it); a lab's starter file
    may be refused (exit 2: that is the exercise) but must be there and never crash."""
    ran, failed = 0, []
    for d, program, words in slicectl_commands(doc_lines()):
        where = _runnable(words) if program == "slicectl" else None
        if where is None:
            continue
        monkeypatch.chdir(tmp_path if where == "scratch" else REPO)
        argv = [g for w in variants(words)[-1] for g in (sorted(glob.glob(w)) if "*" in w else [w])]
        try:
            code = cli.main(argv)
        except SystemExit as e:
            code = e.code
        out, err = capsys.readouterr()
        ran += 1
        allowed = (0, 2) if d.where.startswith("labs/") else (0,)
        if code not in allowed or "cannot read" in err or "Traceback" in err:
            failed.append(f"{d.where}: `{d.text}`: exit {code}: {err.strip()[-300:]}")
    assert ran >= 10, f"only {ran} documented commands could be run"
    assert not failed, "\n".join(failed)


def _make_recipes() -> dict[str, str]:
    """Every target of the Makefile and its recipe."""
    recipes, target = {}, None
    for line in (REPO / "Makefile").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([a-z][\w-]*):(?!=)", line)
        if m:
            target = m.group(1)
            recipes[target] = ""
        elif line.startswith("\t") and target:
            recipes[target] += line + "\n"
        elif line.strip() and not line.startswith("#"):
            target = None
    return recipes


def test_every_make_command_in_the_docs_names_a_target_and_its_variables():
    recipes, makefile = _make_recipes(), (REPO / "Makefile").read_text(encoding="utf-8")
    wrong, seen = [], 0
    for d in doc_lines():
        for part in re.split(r";|&&|\|\||#", d.text):
            m = MAKE.match(part.strip())
            if not m:
                continue
            seen += 1
            target, *rest = shlex.split(m.group(1).split("  ")[0]) or [""]
            if target not in recipes:
                wrong.append(f"{d.where}: `{d.text}`: no target {target!r} in the Makefile")
            for w in rest:     # VAR=value settings, up to the first other word (a description)
                name, eq, _value = w.strip("[]").partition("=")
                if not eq:
                    break
                if f"$({name})" not in makefile:
                    wrong.append(f"{d.where}: `{d.text}`: the Makefile reads no {name}")
    assert seen > 20
    assert not wrong, "\n".join(wrong)


@pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")
def test_the_slicectl_lines_the_makefile_runs_parse():
    """`make -n` prints what a target would run, variables expanded, running nothing."""
    users = sorted(t for t, recipe in _make_recipes().items()
                   if re.search(r"(\$\(SLICECTL\)|slicectl\.cli) [a-z]", recipe))
    assert len(users) >= 10, users
    broken, checked = [], 0
    for target in users:
        r = subprocess.run(["make", "-n", "--no-print-directory", target, "N=01"], cwd=REPO, capture_output=True,
                           text=True, timeout=60)
        for line in r.stdout.splitlines():
            m = re.search(r"(?:\.venv/bin/slicectl|-m slicectl\.cli)\s+([a-z].*)", line)
            if m:
                checked += 1
                err = parse(_words(m.group(1)))[1]
                if err:
                    broken.append(f"make {target}: {line.strip()}: {err}")
    assert checked >= len(users)
    assert not broken, "\n".join(broken)
