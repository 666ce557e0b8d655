"""Run the code of the documentation pages, as a reader would, and check what it prints.

A fenced block of a page under ``docs/`` runs when its info string carries the word ``run``
after the language (the convention is described in ``docs/contributing.md``):

- ```` ```console run ````: lines starting with ``$ `` are shell commands (a line ending in ``\\``
  continues on the next); the lines after a command, up to the next command, are its expected
  output (standard output and error together, as a terminal shows them). A command without
  expected lines is only required to succeed.
- ```` ```bash run ````: the whole block runs in ``bash -euo pipefail`` and must succeed.
- ```` ```python run ````: executed; must not raise.
- ```` ```python run script=NAME.py ````: saved as ``NAME.py`` and run as a script,
  ``python NAME.py`` (a process of its own, ``__name__ == "__main__"``); must succeed. Every Python
  example of the documentation is a script, so that it works when a reader saves it to a file.
- ```` ```pycon run ````: a doctest; the output must match.

The blocks of a page run in order, in one fresh temporary folder: files and shell variables
(assignments are exported) carry over from block to block, and so do Python names.
``discT2`` and ``python`` on the commands' ``PATH`` run the package under test. Expected output
is compared as doctest does with ``ELLIPSIS`` and ``NORMALIZE_WHITESPACE`` (``...`` matches
anything, e.g. a time), and numbers may differ by 0.1 % or, for decimals, by one unit in their
last shown digit (a platform's rounding), whichever is larger.
"""

from __future__ import annotations

import doctest
import os
import re
import shlex
import subprocess
import sys
import textwrap
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import discT2

DOCS = Path(__file__).resolve().parents[2] / "docs"
RUNNABLE_LANGUAGES = ("console", "bash", "python", "pycon")
COMMAND_TIMEOUT_S = 600

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`\n]*)$")
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


@dataclass
class Block:
    """One runnable fenced block of a page."""

    language: str
    code: str
    path: Path
    line: int  # 1-based line of the opening fence
    script: str | None = None  # python blocks run as a script file of this name

    @property
    def where(self) -> str:
        try:
            path = self.path.relative_to(DOCS.parent)
        except ValueError:  # a page outside the checkout (the tests of this module)
            path = self.path
        return f"{path}:{self.line}"


def runnable_blocks(text: str, path: Path) -> list[Block]:
    """The fenced blocks of a Markdown page whose info string is ``<language> run ...``."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, words = m["fence"], m["info"].split()
        body, j = [], i + 1
        while j < len(lines):
            close = lines[j].strip()
            if close.startswith(fence[0] * len(fence)) and set(close) == {fence[0]}:
                break
            body.append(lines[j])
            j += 1
        if len(words) >= 2 and words[0] in RUNNABLE_LANGUAGES and "run" in words[1:]:
            code = textwrap.dedent("\n".join(body)) + "\n"
            script = next(
                (w.removeprefix("script=") for w in words if w.startswith("script=")), None
            )
            blocks.append(Block(words[0], code, path, i + 1, script))
        i = j + 1
    return blocks


def console_commands(code: str) -> list[tuple[str, str]]:
    """``(command, expected output)`` pairs of a console block."""
    pairs: list[tuple[str, list[str]]] = []
    continuing = False
    for line in code.splitlines():
        if continuing:
            command, expected = pairs[-1]
            pairs[-1] = (command + "\n" + line.removeprefix("> "), expected)
            continuing = line.endswith("\\")
        elif line.startswith("$ "):
            pairs.append((line[2:], []))
            continuing = line.endswith("\\")
        elif pairs:
            pairs[-1][1].append(line)
        elif line.strip():
            raise ValueError(f"console block: output before the first '$ ' command: {line!r}")
    return [(cmd, "\n".join(out).strip("\n")) for cmd, out in pairs]


_TOKEN = re.compile(
    r"(?P<ellipsis>\.\.\.)"
    r"|(?P<number>(?<![A-Za-z_\d.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)"
    r"|(?P<space>\s+)"
    r"|(?P<text>.)",
    re.DOTALL,
)
_NUMBER_PATTERN = r"([-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)"


def output_matches(want: str, got: str) -> bool:
    """Whether ``got`` is what ``want`` shows (see the module docstring)."""
    pattern, numbers = [], []
    for m in _TOKEN.finditer(want.strip()):
        if m["ellipsis"]:
            pattern.append(".*?")
        elif m["number"]:
            pattern.append(_NUMBER_PATTERN)
            numbers.append(m["number"])
        elif m["space"]:
            pattern.append(r"\s+")
        else:
            pattern.append(re.escape(m["text"]))
    match = re.fullmatch("".join(pattern), got.strip(), re.DOTALL)
    if match is None:
        return False
    for w, g in zip(numbers, match.groups(), strict=True):
        # One unit in the last shown decimal (rounding), or 0.1 %; integers only the latter.
        last_digit = 10.0 ** -len(w.split(".")[1]) if "." in w and "e" not in w.lower() else 0.0
        tolerance = max(last_digit, 1e-3 * abs(float(w)))
        if abs(float(w) - float(g)) > tolerance * (1 + 1e-9):
            return False
    return True


class OutputChecker(doctest.OutputChecker):
    """doctest's checker, with ``...``, free whitespace and the number tolerance."""

    FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        return super().check_output(want, got, optionflags | self.FLAGS) or output_matches(
            want, got
        )


class _chdir:
    """Work in ``folder`` for a while (``contextlib.chdir`` needs Python 3.11)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.previous = folder, None

    def __enter__(self) -> None:
        self.previous = Path.cwd()
        os.chdir(self.folder)

    def __exit__(self, *exc: object) -> None:
        os.chdir(self.previous)


@dataclass
class PageSession:
    """The state a page's blocks share: folder, shell variables, Python names."""

    folder: Path
    env: dict[str, str] = field(default_factory=dict)
    namespace: dict[str, object] = field(default_factory=dict)

    @classmethod
    def create(cls, folder: Path) -> PageSession:
        bin_dir = folder.parent / f"{folder.name}-bin"
        bin_dir.mkdir(exist_ok=True)
        for name, target in (("discT2", f'"{sys.executable}" -m discT2.cli'), ("python", None)):
            script = bin_dir / name
            command = target or f'"{sys.executable}"'
            script.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
            script.chmod(0o755)
        src = str(Path(discT2.__file__).resolve().parents[1])
        env = dict(os.environ)
        env.update(
            PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
            PYTHONPATH=os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p),
            MPLBACKEND="Agg",
            COLUMNS="100",
        )
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder, env, {"__name__": "__main__"})

    def shell(self, script: str, where: str) -> str:
        """Run ``script`` in bash; keep its exported variables. Returns stdout + stderr."""
        state = self.folder.parent / f"{self.folder.name}-env"
        full = (
            "set -euo pipefail\nset -a\n"
            f"[ -f {shlex.quote(str(state))} ] && source {shlex.quote(str(state))}\n"
            f"cd {shlex.quote(str(self.folder))}\n"
            f"{script}\n"
            f"export -p > {shlex.quote(str(state))}\n"
        )
        result = subprocess.run(
            ["bash", "-c", full],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"{where}: exit status {result.returncode}:\n$ {script}\n{result.stdout}",
                pytrace=False,
            )
        return result.stdout

    def run(self, block: Block) -> None:
        if block.language == "console":
            for command, expected in console_commands(block.code):
                got = self.shell(command, block.where)
                if expected and not output_matches(expected, got):
                    pytest.fail(
                        f"{block.where}: the output of\n$ {command}\ndiffers from the page.\n"
                        f"Page:\n{expected}\nGot:\n{got}",
                        pytrace=False,
                    )
        elif block.language == "bash":
            self.shell(block.code, block.where)
        elif block.language == "python" and block.script:
            (self.folder / block.script).write_text(block.code, encoding="utf-8")
            self.shell(f"python {shlex.quote(block.script)}", block.where)
        elif block.language == "python":
            code = compile(block.code, block.where, "exec")
            with _warnings_shown(), _chdir(self.folder):
                exec(code, self.namespace)
        else:  # pycon
            with _chdir(self.folder):
                self._doctest(block)

    def _doctest(self, block: Block) -> None:
        test = doctest.DocTestParser().get_doctest(
            block.code, self.namespace, block.where, str(block.path), block.line
        )
        report: list[str] = []
        runner = doctest.DocTestRunner(checker=OutputChecker(), optionflags=OutputChecker.FLAGS)
        with _warnings_shown():
            runner.run(test, out=report.append, clear_globs=False)
        self.namespace.update(test.globs)  # DocTest works on a copy of the names
        if runner.failures:
            pytest.fail(f"{block.where}: doctest failed\n{''.join(report)}", pytrace=False)


class _warnings_shown(warnings.catch_warnings):
    """Warnings print as a reader would see them (pytest would make them errors), except
    deprecations, which stay errors so the pages follow the API."""

    def __enter__(self):
        result = super().__enter__()
        warnings.simplefilter("default")
        warnings.simplefilter("error", DeprecationWarning)
        return result


def _pages_with_blocks() -> list[Path]:
    return sorted(
        p
        for p in DOCS.rglob("*.md")
        if "_build" not in p.parts and runnable_blocks(p.read_text(encoding="utf-8"), p)
    )


PAGES = _pages_with_blocks()


# --- the convention itself ------------------------------------------------------------------


def test_blocks_are_found_by_their_info_string(tmp_path):
    page = tmp_path / "page.md"
    text = (
        "Intro\n\n```bash run\necho a\n```\n\n```bash\nnot run\n```\n\n"
        "````python run\nx = 1\n```\nprint(x)\n````\n\n```pycon run extra\n>>> 1\n1\n```\n"
        "```text run\nignored\n```\n"
    )
    blocks = runnable_blocks(text, page)
    assert [(b.language, b.line) for b in blocks] == [("bash", 3), ("python", 11), ("pycon", 17)]
    assert blocks[1].code == "x = 1\n```\nprint(x)\n"


def test_console_commands_and_their_output():
    code = "$ echo a \\\n> b\na b\n$ true\n$ printf 'x\\ny\\n'\nx\ny\n"
    assert console_commands(code) == [
        ("echo a \\\nb", "a b"),
        ("true", ""),
        ("printf 'x\\ny\\n'", "x\ny"),
    ]
    with pytest.raises(ValueError, match="output before the first"):
        console_commands("stray\n$ true\n")


@pytest.mark.parametrize(
    ("want", "got", "same"),
    [
        ("T2 116.7 ms (n 21)", "T2 116.7 ms (n 21)", True),
        ("T2 116.7 ms (n 21)", "T2  116.8 ms\n(n 21)", True),  # last digit, whitespace
        ("T2 116.7 ms (n 21)", "T2 116.9 ms (n 21)", False),
        ("T2 116.7 ms (n 21)", "T2 116.7 ms (n 23)", False),
        ("fitted in ... s: median 94.7 ms", "fitted in 5.1 s: median 94.7 ms", True),
        ("fitted in ... s: median 94.7 ms", "fitted in 5.1 s: median 96.0 ms", False),
        ("31118 voxels", "31120 voxels", True),  # 0.1 % of a large count
        ("a\nb 1.0", "a\nb 1.1\nc", False),
        ("L4-L5 S01 T2 96x120", "L5-L5 S01 T2 96x120", False),  # digits in names are text
        ("L4-L5 S01 T2 96x120", "L4-L5 S01 T2 96x121", False),
        ("12-120 ms", "12-120 ms", True),
    ],
)
def test_output_comparison(want, got, same):
    assert output_matches(want, got) is same


def test_session_carries_files_variables_and_names(tmp_path):
    session = PageSession.create(tmp_path / "page")
    blocks = runnable_blocks(
        "```console run\n$ X=hello; echo $X > f.txt\n$ cat f.txt\nhello\n```\n"
        '```bash run\ntest "$X" = hello\n```\n'
        "```python run\nfrom pathlib import Path; text = Path('f.txt').read_text().strip()\n```\n"
        "```pycon run\n>>> text\n'hello'\n```\n",
        tmp_path / "p.md",
    )
    for block in blocks:
        session.run(block)


def test_session_reports_failures(tmp_path):
    session = PageSession.create(tmp_path / "page")
    failing = [
        "```bash run\nfalse\necho never\n```\n",
        "```console run\n$ echo 1\n2\n```\n",
        "```python run\nraise RuntimeError('x')\n```\n",
        "```pycon run\n>>> 1 + 1\n3\n```\n",
    ]
    for text in failing:
        (block,) = runnable_blocks(text, tmp_path / "p.md")
        with pytest.raises((pytest.fail.Exception, RuntimeError)):
            session.run(block)


def test_discT2_on_the_path_is_the_package_under_test(tmp_path):
    session = PageSession.create(tmp_path / "page")
    out = session.shell("discT2 --version; python -c 'import discT2; print(discT2.__file__)'", "t")
    assert out.splitlines() == [f"discT2 {discT2.__version__}", discT2.__file__]


# --- the pages ------------------------------------------------------------------------------


def test_python_script_blocks_run_as_scripts(tmp_path):
    session = PageSession.create(tmp_path / "page")
    (block,) = runnable_blocks(
        "```python run script=s.py\nimport sys\nassert __name__ == '__main__'\n"
        "assert sys.argv[0] == 's.py'\nopen('done', 'w').close()\n```\n",
        tmp_path / "p.md",
    )
    assert block.script == "s.py"
    session.run(block)
    assert (session.folder / "done").is_file()
    (failing,) = runnable_blocks("```python run script=f.py\nraise SystemExit(3)\n```\n", tmp_path)
    with pytest.raises(pytest.fail.Exception):
        session.run(failing)


def test_every_python_example_of_the_docs_runs_as_a_script():
    for page in DOCS.rglob("*.md"):
        if "_build" in page.parts:
            continue
        for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            m = _FENCE.match(line)
            words = m["info"].split() if m else []
            if words and words[0] in ("python", "py", "python3", "pycon", "ipython"):
                assert "run" in words[1:], f"{page}:{n}: a Python example that is not run"
                if words[0] != "pycon":
                    assert any(w.startswith("script=") for w in words), f"{page}:{n}: not a script"


def test_the_tutorials_have_runnable_code():
    assert DOCS / "tutorials" / "one-exam.md" in PAGES
    assert DOCS / "getting-started.md" in PAGES


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_page_runs(page, tmp_path):
    session = PageSession.create(tmp_path / "page")
    for block in runnable_blocks(page.read_text(encoding="utf-8"), page):
        session.run(block)
