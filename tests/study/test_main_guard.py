"""``run_study(workers > 1)`` from a script without the ``__main__`` guard fails at once."""

import subprocess
import sys
import textwrap

import pytest

from discT2 import sample_study

SCRIPT = """
import discT2

def go():
    return discT2.run_study(discT2.read_study({manifest!r}), {out!r}, workers=2)

{call}
"""


def _run(tmp_path, call):
    out = tmp_path / "results"
    manifest = str(sample_study() / "study.csv")
    script = tmp_path / "study_script.py"
    script.write_text(SCRIPT.format(manifest=manifest, out=str(out), call=call))
    proc = subprocess.run(
        [sys.executable, str(script)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    return proc, out


@pytest.mark.parametrize("call", ["go()", "result = go()\nprint(result)"])
def test_unguarded_script_fails_before_any_worker_starts(tmp_path, call):
    proc, out = _run(tmp_path, call)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("discT2.errors.InputError: ")
    assert 'if __name__ == "__main__":' in last
    assert "study_script.py, line " in last
    assert "bootstrapping" not in proc.stderr  # no worker got as far as importing the script
    assert not out.exists()


def test_the_guard_is_recognised(tmp_path):
    # Inside the guard the check passes; the run then stops at the next check (an output folder
    # that is the manifest's own), which shows that the guard check came first and passed.
    manifest = sample_study() / "study.csv"
    script = tmp_path / "guarded.py"
    script.write_text(
        textwrap.dedent(f"""
        import discT2

        if __name__ == "__main__":
            discT2.run_study({str(manifest)!r}, {str(manifest.parent)!r}, workers=2)
        """)
    )
    proc = subprocess.run(
        [sys.executable, str(script)], check=False, capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert "the output folder is the manifest's folder" in proc.stderr
    assert "__main__" not in proc.stderr.strip().splitlines()[-1]
