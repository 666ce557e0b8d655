"""The bad-input corpus (``_bad_inputs.py``): every case has exactly its expected outcome.

An error is one ``ERROR:`` line naming the file or field, exit status 2, no traceback and nothing
left behind; an accepted input gives the right maps (and the warning that counts what was odd).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from discT2.cli import main


def _corpus():
    name = "discT2_tests_cli_bad_inputs"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).with_name("_bad_inputs.py")
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


corpus = _corpus()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX file types")
@pytest.mark.parametrize("case", corpus.CASES, ids=[c.name for c in corpus.CASES])
def test_bad_input_has_its_outcome(case, tmp_path, capsys):
    argv, holder = corpus.prepare(case, tmp_path)
    before = corpus.snapshot(tmp_path)
    capsys.readouterr()
    try:
        status = main(argv)
        problem = corpus.outcome_problem(case, tmp_path, before, status, capsys.readouterr().err)
    finally:
        corpus.release(holder)
    assert problem == ""


def test_a_failure_while_writing_keeps_the_previous_maps(tmp_path, capsys, monkeypatch):
    """A full disk half-way through writing the maps: the earlier fit's maps stay as they were."""
    import errno

    from discT2.io import nifti

    path = corpus._nifti(tmp_path)
    argv = corpus._fit(path, tmp_path)
    assert main(argv) == 0
    before = corpus.snapshot(tmp_path)
    real_save = nifti.nib.save
    calls = []

    def full_disk(img, filename):
        calls.append(filename)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(filename))
        real_save(img, filename)

    monkeypatch.setattr(nifti.nib, "save", full_disk)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("ERROR: ")]
    assert len(lines) == 1 and "Traceback" not in err
    assert "No space left on device; nothing was written to" in lines[0]
    assert corpus.snapshot(tmp_path) == before
