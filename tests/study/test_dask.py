"""The Dask engine on a 2-worker LocalCluster (worker processes, as on a real cluster).

The study: S01 with follow-ups propagated from its baseline, S02 with discs files at every visit
and its 6-month DICOM cut short (that exam fails). Run on the cluster it gives the local run's
tables byte for byte, the failed exam is recorded and the others measured; and when a worker is
killed in the middle of the study every exam still completes, with the same tables.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from discT2.study import run_study

distributed = pytest.importorskip("distributed")

TABLES = ("measurements.csv", "changes.csv", "exams.csv", "errors.csv")

# Two worker processes import discT2 (~10 s on 2 cores), then 6 exams run on them.
pytestmark = pytest.mark.slow


def assert_same_tables(a: Path, b: Path) -> None:
    for name in TABLES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.fixture(scope="module")
def dask_study(studies, cohort, tmp_path_factory):
    """The manifest, and its local (in-process) run: the reference."""
    root = tmp_path_factory.mktemp("dask_study")
    rows = studies.manifest_rows(cohort, discs_everywhere=("S02",), subjects=("S01", "S02"))
    for row in rows:
        if (row["subject"], row["visit"]) == ("S02", "m06"):
            dest = root / "broken" / "S02_m06"
            studies.truncate_one_file(Path(row["dicom"]), dest)
            row["dicom"] = str(dest)
    manifest = studies.write_manifest(root / "study.csv", rows)
    reference = run_study(manifest, root / "local", report=False)
    assert [e.status for e in reference.exams].count("failed") == 1
    assert sum(e.rois == "propagated" for e in reference.exams) == 2
    return manifest, reference


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def test_cluster_run_matches_local_run(dask_study, client, tmp_path):
    manifest, reference = dask_study
    seen = []
    result = run_study(
        manifest,
        tmp_path / "dask",
        client=client,
        report=False,
        progress=lambda r, done, total: seen.append((r.label, done, total)),
    )
    assert_same_tables(reference.out_dir, result.out_dir)
    assert [(e.label, e.status, e.rois) for e in result.exams] == [
        (e.label, e.status, e.rois) for e in reference.exams
    ]
    assert sorted(label for label, _, _ in seen) == sorted(e.label for e in reference.exams)
    assert [done for _, done, _ in seen] == list(range(1, 7)) and {t for _, _, t in seen} == {6}
    # A follow-up registered to the baseline's saved image, not its DICOM read again.
    log = (result.out_dir / "S01" / "m12" / "exam.log").read_text()
    assert "baseline image from" in log and "reading" not in log
    # Rerun on the cluster: every finished exam reused, the failed one tried again (as locally).
    again = run_study(manifest, tmp_path / "dask", client=client, report=False)
    assert again.n_skipped == 5 and not again.exams[4].skipped
    assert_same_tables(reference.out_dir, again.out_dir)


def test_command_line_scheduler(dask_study, client, tmp_path, capsys):
    from discT2.cli import main

    manifest, reference = dask_study
    out = tmp_path / "cli"
    address = client.scheduler.address
    cmd = ["-q", "run", str(manifest), "-o", str(out), "--no-report", "--scheduler", address]
    assert main(cmd) == 1  # one exam failed, as in the local run
    assert_same_tables(reference.out_dir, out)
    assert json.loads((out / "run.json").read_text())["engine"] == f"Dask cluster {address}"


def test_killed_worker_still_completes_every_exam(dask_study, client, tmp_path):
    manifest, reference = dask_study
    out = tmp_path / "dask"
    pids = client.run(os.getpid)
    killed: list[str] = []

    def kill_a_busy_worker() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            busy = [a for a, keys in client.processing().items() if keys and a in pids]
            if busy and any(out.rglob("exam.json")):
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(busy[0])
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    try:
        result = run_study(manifest, out, client=client, report=False)
    finally:
        killer.join()
    assert killed, "no worker was busy to kill"
    assert [(e.label, e.status) for e in result.exams] == [
        (e.label, e.status) for e in reference.exams
    ]
    assert_same_tables(reference.out_dir, out)
