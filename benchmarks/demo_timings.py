"""The figures the tutorials quote: how long ``discT2 demo`` takes, and each exam's stages.

Runs ``discT2 demo`` into a fresh temporary folder, in its own process, and prints

* the machine (CPU model and count, load average before the run),
* the wall time of the study tutorial's first command (``discT2 simulate trial --preset sample
  --subjects 6 --visits 0,6,12 --seed 7``),
* the demo's wall time (the study run, its tables and both reports),
* per exam, the seconds of each stage from its ``exam.json`` (``rois`` of a follow-up is the
  propagation of the baseline's ROIs: registration and placement), and the median per kind.

Run: ``python benchmarks/demo_timings.py [--workers N]`` with the environment where discT2 is
installed. The first run after installing also compiles the fitting kernels (cached on disk):
run it twice and quote the second.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def machine() -> str:
    """CPU model and count, and the load average, in one line."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} CPUs ({model}), load average {load:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1, help="discT2 demo --workers (default 1)")
    args = parser.parse_args()
    print(f"machine: {machine()}; Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        simulate = [sys.executable, "-m", "discT2.cli", "-q", "simulate", str(Path(tmp) / "trial")]
        simulate += ["--preset", "sample", "--subjects", "6", "--visits", "0,6,12", "--seed", "7"]
        start = time.perf_counter()
        subprocess.run(simulate, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        print(f"discT2 simulate (the study tutorial's 18 exams): {seconds:.1f} s wall")
        out = Path(tmp) / "demo"
        command = [sys.executable, "-m", "discT2.cli", "-q", "demo", "--out", str(out)]
        command += ["--workers", str(args.workers)]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        print(f"discT2 demo --workers {args.workers}: {wall:.1f} s wall")
        print()
        print("| exam | ROIs from | load s | fit s | rois s | measure s | total s |")
        print("|---|---|---:|---:|---:|---:|---:|")
        by_kind: dict[str, list[dict]] = {}
        for path in sorted(out.glob("*/*/exam.json")):
            doc = json.loads(path.read_text())
            kind = "baseline" if doc["months"] == 0 else "follow-up"
            t = doc["timings_s"]
            by_kind.setdefault(kind, []).append(t)
            cells = " | ".join(f"{t.get(s, 0.0):.1f}" for s in ("load", "fit", "rois", "measure"))
            print(f"| {doc['subject']} {doc['visit']} | {kind} | {cells} | {t['total']:.1f} |")
        print()
        for kind, rows in by_kind.items():
            rois = statistics.median(r["rois"] for r in rows)
            total = statistics.median(r["total"] for r in rows)
            print(f"median {kind}: rois {rois:.1f} s, whole exam {total:.1f} s ({len(rows)} exams)")


if __name__ == "__main__":
    main()
