"""One run per output folder: a live holder refuses a second run at once; a killed one is stale."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from discT2.cli import main
from discT2.errors import StudyError
from discT2.study import run_study
from discT2.study._lock import LOCK_NAME, study_lock

SAMPLE_STUDY = Path(__file__).resolve().parents[2] / "sample_data" / "study.csv"


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock of ``tmp_path / 'out'`` until the test ends."""
    out = tmp_path / "out"
    out.mkdir()
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from discT2.study._lock import study_lock
        with study_lock(Path({str(out)!r})):
            print("held", flush=True)
            sys.stdin.read()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    yield out, proc
    proc.stdin.close()
    proc.wait(timeout=30)
    proc.stdout.close()


def test_second_run_on_a_folder_in_use_fails_at_once(holder, capsys):
    out, proc = holder
    start = time.monotonic()
    with pytest.raises(StudyError, match=rf"in use by another discT2 run \(process {proc.pid} "):
        run_study(SAMPLE_STUDY, out)
    assert main(["run", str(SAMPLE_STUDY), "-o", str(out)]) == 2
    assert time.monotonic() - start < 10
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "in use" in err
    # nothing was written by the refused runs
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]


def test_lock_of_a_finished_holder_is_released(holder):
    out, proc = holder
    proc.stdin.close()
    proc.wait(timeout=30)
    assert not (out / LOCK_NAME).exists()
    with study_lock(out):
        assert json.loads((out / LOCK_NAME).read_text())["pid"] > 0


def test_stale_lock_and_temporaries_of_a_killed_run(tmp_path, caplog):
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).write_text(json.dumps({"pid": 4, "host": "elsewhere", "started": "x"}))
    stale = [out / ".measurements.csv.4.tmp", out / ".report.html.4.tmp"]
    for p in stale:
        p.write_text("half a table")
    kept = out / "measurements.csv"
    kept.write_text("whole table")
    with caplog.at_level("INFO", logger="discT2"), study_lock(out):
        assert not any(p.exists() for p in stale)
        assert kept.read_text() == "whole table"
    assert "previous run (process 4 on elsewhere" in caplog.text
    assert "removed 2 temporary file(s)" in caplog.text
    assert sorted(p.name for p in out.iterdir()) == ["measurements.csv"]
