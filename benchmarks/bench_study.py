"""The whole sample study end to end: wall time per stage and peak memory, 1 and 2 workers.

Each configuration runs ``discT2.run_study`` from scratch (``force=True``, a fresh output folder)
in its own Python process, so that its peak memory (``ru_maxrss`` of the process, and of its
worker processes for ``workers > 1``) is not mixed with the others'. Reported:

* ``wall s``: the whole run (exams, study tables, report), and its parts: ``exams s`` (first exam
  started to last exam finished) and ``tables+report s``;
* per stage (``load``, ``fit``, ``rois``, ``measure``): the time summed over exams, from each
  exam's ``exam.json``; with 2 workers these overlap, so their sum exceeds the exams' wall time;
* ``peak MB``: largest resident set of the main process and of any worker process.

Run: ``PYTHONPATH=src python benchmarks/bench_study.py [--study DIR] [--workers 1 2]
[--method epg] [--no-report]``. The default study is the bundled sample (``discT2.sample_study``:
4 subjects x 2 visits, 96 x 120 x 3 voxels, 10 echoes). The first run after installing also
compiles the fitting kernels (cached on disk afterwards); run twice for steady-state figures.
Other jobs on the machine change the figures: the ``cpu s`` column (user + system time of all
processes) next to the wall time shows how much of the machine the run got.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = ("load", "fit", "rois", "measure")


def child(study: str, out: str, workers: int, method: str, report: bool) -> None:
    """Run the study once in this process and print a JSON line of figures."""
    from discT2 import run_study

    marks: dict[str, float] = {}
    t0 = time.perf_counter()

    def progress(result, done, total):
        marks.setdefault("first_done", time.perf_counter())
        marks["last_done"] = time.perf_counter()

    result = run_study(
        Path(study) / "study.csv",
        out,
        workers=workers,
        method=method,
        force=True,
        progress=progress,
        report=report,
    )
    wall = time.perf_counter() - t0
    stages = dict.fromkeys(STAGES, 0.0)
    for exam in result.exams:
        doc = json.loads((exam.folder / "exam.json").read_text())
        for stage in STAGES:
            stages[stage] += float(doc["timings_s"].get(stage, 0.0))
    self_usage = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "workers": workers,
                "exams": len(result.exams),
                "ok": result.count("ok"),
                "wall_s": wall,
                "exams_s": marks["last_done"],
                "tables_report_s": wall - (marks["last_done"] - t0),
                "t0": t0,
                "stages_s": stages,
                "cpu_s": self_usage.ru_utime + self_usage.ru_stime + kids.ru_utime + kids.ru_stime,
                "peak_mb_main": self_usage.ru_maxrss / 1024,
                "peak_mb_worker": kids.ru_maxrss / 1024,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", help="study folder with study.csv (default: the sample)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--method", default="epg")
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("STUDY", "OUT", "WORKERS"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    if args.child:
        study, out, workers = args.child
        child(study, out, int(workers), args.method, not args.no_report)
        return

    import discT2

    study = Path(args.study) if args.study else discT2.sample_study()
    print(f"study: {study}  method: {args.method}  report: {not args.no_report}")
    print(f"discT2 {discT2.__version__}, Python {sys.version.split()[0]}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            out = Path(tmp) / f"out{workers}"
            cmd = [sys.executable, __file__, "--method", args.method,
                   "--child", str(study), str(out), str(workers)]  # fmt: skip
            if args.no_report:
                cmd.append("--no-report")
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            process_s = time.perf_counter() - start
            figures = json.loads(proc.stdout.strip().splitlines()[-1])
            figures["process_s"] = process_s
            figures["exams_s"] = figures["exams_s"] - figures["t0"]
            rows.append(figures)

    head = (
        f"{'workers':>7} {'exams':>5} {'wall s':>7} {'exams s':>8} {'tables+report s':>15} "
        + " ".join(f"{s + ' s':>9}" for s in STAGES)
        + f" {'cpu s':>7} {'peak MB main':>12} {'peak MB worker':>14} {'process s':>9}"
    )
    print(head)
    for r in rows:
        stages = " ".join(f"{r['stages_s'][s]:9.2f}" for s in STAGES)
        worker_mb = f"{r['peak_mb_worker']:14.0f}" if r["workers"] > 1 else f"{'-':>14}"
        print(
            f"{r['workers']:>7} {r['exams']:>5} {r['wall_s']:7.1f} {r['exams_s']:8.1f} "
            f"{r['tables_report_s']:15.1f} {stages} {r['cpu_s']:7.1f} "
            f"{r['peak_mb_main']:12.0f} {worker_mb} {r['process_s']:9.1f}"
        )
    print("stage times are sums over exams (they overlap with several workers); process s "
          "includes starting Python and importing discT2")  # fmt: skip


if __name__ == "__main__":
    main()
