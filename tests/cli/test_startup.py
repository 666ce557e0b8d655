"""What ``discT2`` and ``import discT2`` load at start-up, and the help and error texts.

The speed itself is measured by ``benchmarks/startup.py``; these tests check the structure that
makes it fast: building the parsers and importing the package load none of the heavy libraries,
and every public name still resolves.
"""

import inspect
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import discT2
from discT2.cli import SUBCOMMANDS, _choices, get_parser, main

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("numpy", "pandas", "scipy", "numba", "pydicom", "matplotlib", "nibabel", "SimpleITK")


def _modules_after(code: str) -> set[str]:
    """Top-level packages loaded in a fresh interpreter after running ``code``."""
    listing = "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    probe = f"{code}\nimport json, sys\n{listing}"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        "import discT2",
        "from discT2.cli import get_parser; get_parser()",
        "import contextlib\nfrom discT2.cli import main\n"
        "with contextlib.suppress(SystemExit):\n    main(['fit', '--help'])",
    ],
)
def test_start_up_imports_no_heavy_library(code):
    assert _modules_after(code).isdisjoint(HEAVY)


def test_every_public_name_resolves_and_from_import_works():
    for name in discT2.__all__:
        assert getattr(discT2, name) is not None, name
    from discT2 import T2Model, fit_t2, run_study  # noqa: F401

    assert set(dir(discT2)) >= set(discT2.__all__)


def test_measure_stays_the_function_once_its_module_is_imported():
    # discT2.measure is a function in the module of the same name; importing the module (as the
    # study runner does) must not replace the package's function with the module.
    code = "import discT2.study, discT2\nprint(callable(discT2.measure))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "True"


def test_cli_choices_are_the_librarys():
    from discT2.fit import FIT_METHODS, EPGOptions, T2Model
    from discT2.phantom.study import PRESETS
    from discT2.report import ENDPOINTS
    from discT2.study import DEFAULT_METHOD

    assert _choices.FIT_METHODS == FIT_METHODS
    assert _choices.STUDY_METHOD == DEFAULT_METHOD
    signature = inspect.signature(T2Model.__init__).parameters
    for name, value in _choices.FIT_DEFAULTS.items():
        assert signature[name].default == value, name
    epg = EPGOptions()
    for name, value in _choices.EPG_DEFAULTS.items():
        assert getattr(epg, name) == value, name
    assert tuple(ENDPOINTS) == _choices.ENDPOINTS
    assert tuple(sorted(PRESETS)) == _choices.PRESETS


def _subparsers():
    parser = get_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return parser, action.choices


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_sub_command_has_examples_that_parse(name):
    parser, subs = _subparsers()
    examples = subs[name].examples
    assert 1 <= len(examples) <= 3
    for example in examples:
        words = shlex.split(example.command)
        assert words[:2] == ["discT2", name]
        args = parser.parse_args(words[1:])  # exits (SystemExit) on an unknown option
        assert args.command == name


def test_help_prints_the_examples(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["rois", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    _, subs = _subparsers()
    assert "examples:" in out
    for example in subs["rois"].examples:
        assert example.command in out


def test_a_bad_option_value_is_one_short_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["fit", "exam/", "-o", "out/", "--method", "bogus"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" not in err
    assert err.splitlines() == [
        "discT2 fit: error: argument --method: invalid choice: 'bogus' (choose from "
        + ", ".join(repr(m) for m in _choices.FIT_METHODS)
        + ")",
        "See 'discT2 fit --help'.",
    ]


def test_errors_name_the_command_line_option(tmp_path, capsys):
    # Two exams' series in one folder: the loader asks to choose one (series= in Python).
    sample = REPO / "sample_data"
    folder = tmp_path / "two"
    folder.mkdir()
    for exam in ("S01", "S03"):
        for f in (sample / exam / "baseline" / "dicom").iterdir():
            shutil.copy(f, folder / f"{exam}_{f.name}")
    assert main(["fit", str(folder), "-o", str(tmp_path / "fit")]) == 2
    err = capsys.readouterr().err
    assert "choose one with --series" in err
    assert "series=" not in err
