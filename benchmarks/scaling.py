"""A simulated trial end to end: seconds per exam by stage, wall time and peak memory per engine.

    PYTHONPATH=src python benchmarks/scaling.py [--subjects 20] [--visits 0,12,24]
        [--configs 1 2 dask2] [--study DIR] [--before-src OTHER/src] [--report]

A trial of N subjects x the visits (``discT2.phantom`` preset ``cohort``: 1.5 mm pixels, 5
slices, 12 echoes, mixed vendors, repositioning between visits; follow-ups propagated from the
baseline's ROIs) is simulated once (or ``--study`` is used), then run from scratch with each
configuration, each in its own Python process so that peak memories do not mix:

* ``1``: one worker (exams in the process, the fit on every core);
* ``2``: two local worker processes (``cores // 2`` threads each);
* ``dask2``: a ``dask.distributed`` LocalCluster of 2 worker processes, 1 thread each.

``--before-src`` runs configurations ``1`` and ``2`` also with another checkout's ``src``
(e.g. the code before a change), in the same invocation, so before and after share the machine's
load. Reported per configuration: wall time of the exams and of the whole run (tables, and the
report with ``--report``), the mean seconds per baseline and per follow-up exam by stage (load,
fit, rois, measure) from each exam's ``exam.json``, CPU seconds of all processes, peak resident
memory of the main process and of the largest worker, and whether ``measurements.csv`` and
``changes.csv`` are byte-identical to the first configuration's. Then a projection to a 114 x 3
trial and to 10 000 exams (assumptions printed with it). Other jobs on the machine change every
figure: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = ("load", "fit", "rois", "measure")
TABLES = ("measurements.csv", "changes.csv")


def child(study: str, out: str, config: str, method: str, report: bool) -> None:
    """Run the study once in this process with one configuration; print a JSON line."""
    from discT2 import run_study

    marks: dict[str, float] = {}
    kwargs = {}
    cluster = client = None
    if config.startswith("dask"):
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=int(config[4:]), threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
        kwargs["client"] = client
    else:
        kwargs["workers"] = int(config)
    t0 = time.perf_counter()

    def progress(result, done, total):
        marks["last_done"] = time.perf_counter()

    result = run_study(
        Path(study) / "study.csv",
        out,
        method=method,
        force=True,
        progress=progress,
        report=report,
        **kwargs,
    )
    wall = time.perf_counter() - t0
    if client is not None:
        client.close()
        cluster.close()
    per_kind: dict[str, dict[str, list[float]]] = {"baseline": {}, "follow-up": {}}
    for exam in result.exams:
        doc = json.loads((exam.folder / "exam.json").read_text())
        kind = "baseline" if exam.months == 0 else "follow-up"
        for stage in (*STAGES, "total"):
            per_kind[kind].setdefault(stage, []).append(float(doc["timings_s"].get(stage, 0.0)))
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "config": config,
                "exams": len(result.exams),
                "ok": result.count("ok"),
                "wall_s": wall,
                "exams_s": marks["last_done"] - t0,
                "per_exam": {
                    k: {s: sum(v) / len(v) for s, v in d.items()} for k, d in per_kind.items() if d
                },
                "cpu_s": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
                "peak_mb_main": me.ru_maxrss / 1024,
                "peak_mb_worker": kids.ru_maxrss / 1024,
                "tables": {
                    name: hashlib.sha256((Path(out) / name).read_bytes()).hexdigest()
                    for name in TABLES
                },
            }
        )
    )


def simulate(folder: Path, subjects: int, visits: str) -> None:
    from discT2.phantom.study import make_study, preset_plan

    plan = preset_plan(
        "cohort",
        n_subjects=subjects,
        visits_months=[float(v) for v in visits.split(",")],
        seed=1,
    )
    make_study(folder, plan)


def run_config(study: Path, out: Path, config: str, src: Path, args) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, __file__, "--method", args.method, "--child", str(study), str(out),
           config]  # fmt: skip
    if args.report:
        cmd.append("--report")
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{config} with {src} failed:\n{proc.stderr[-3000:]}")
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    figures["src"] = str(src)
    return figures


def projection(rows: list[dict], n_exams_measured: int) -> None:
    """Projected wall times for 114 x 3 exams locally and 10 000 exams on a cluster."""
    by = {r["label"]: r for r in rows}
    print("\nProjection (exam work scales with the number of exams; the tables take seconds):")
    for label in ("1", "2", "dask2"):
        r = by.get(label)
        if r is None:
            continue
        per_exam = r["exams_s"] / n_exams_measured
        print(f"- {label:>5}: {per_exam:.2f} s of wall per exam -> 114 x 3 = 342 exams in "
              f"{342 * per_exam / 60:.1f} min")  # fmt: skip
    r = by.get("dask2") or by.get("2")
    if r is not None:
        # One single-threaded worker's seconds per exam: the exams' wall time times the workers.
        worker_s = r["exams_s"] * 2 / n_exams_measured
        print(f"- one single-threaded worker spends {worker_s:.2f} s per exam (config "
              f"{r['label']}); 10 000 exams (1/3 baselines) on a cluster of W such workers: "
              + ", ".join(f"W={w}: {10_000 * worker_s / w / 60:.0f} min" for w in (16, 64, 256))
              + ", assuming the cores are as fast as these, the inputs are read from a shared "
              "file system at least as fast as a local disk, and the scheduler keeps every "
              "worker busy (each exam is a task of seconds; a follow-up waits only for its own "
              "baseline)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=20)
    parser.add_argument("--visits", default="0,12,24")
    parser.add_argument("--study", type=Path, help="an existing study folder (with study.csv)")
    parser.add_argument("--configs", nargs="+", default=["1", "2", "dask2"])
    parser.add_argument("--before-src", type=Path, help="another checkout's src to compare")
    parser.add_argument("--method", default="epg")
    parser.add_argument("--report", action="store_true", help="also write report.html")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.method, args.report)
        return

    import discT2

    src = Path(discT2.__file__).resolve().parents[1]
    print(f"discT2 {discT2.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} "
          f"cores, load average {os.getloadavg()[0]:.1f} (1 min) at start")  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        study = args.study
        if study is None:
            study = Path(tmp) / "study"
            start = time.perf_counter()
            simulate(study, args.subjects, args.visits)
            print(f"simulated {args.subjects} subjects x visits {args.visits} in "
                  f"{time.perf_counter() - start:.0f} s")  # fmt: skip
        runs = [(c, src, c) for c in args.configs]
        if args.before_src:
            runs = [(c, args.before_src, f"{c} before") for c in ("1", "2")] + runs
        for config, code, label in runs:
            figures = run_config(study, Path(tmp) / label.replace(" ", "_"), config, code, args)
            figures["label"] = label
            rows.append(figures)
            print(f"  {label}: {figures['wall_s']:.1f} s", flush=True)
    n = rows[-1]["exams"]
    print(f"\n{n} exams, method {args.method}, report {args.report}; "
          f"load average {os.getloadavg()[0]:.1f} at the end\n")  # fmt: skip
    head = ["config", "ok", "exams s", "wall s", "baseline s/exam (load, fit, rois, measure)",
            "follow-up s/exam (load, fit, rois, measure)", "cpu s", "peak MB main",
            "peak MB worker", "tables = first run of this code"]  # fmt: skip
    reference = next(r for r in rows if not r["label"].endswith("before"))
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        cells = [r["label"], str(r["ok"]), f"{r['exams_s']:.1f}", f"{r['wall_s']:.1f}"]
        for kind in ("baseline", "follow-up"):
            d = r["per_exam"].get(kind, {})
            parts = ", ".join(f"{d.get(s, 0):.2f}" for s in STAGES)
            cells.append(f"{d.get('total', 0):.2f} ({parts})")
        worker = f"{r['peak_mb_worker']:.0f}" if r["label"].split()[0] != "1" else "-"
        same = "yes" if r["tables"] == reference["tables"] else "no"
        cells += [f"{r['cpu_s']:.0f}", f"{r['peak_mb_main']:.0f}", worker, same]
        print("| " + " | ".join(cells) + " |")
    projection([r for r in rows if not r["label"].endswith("before")], n)


if __name__ == "__main__":
    main()
