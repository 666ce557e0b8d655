"""Start-up time of the command line and of ``import discT2``, each in a fresh process.

Prints the best and the median wall time over ``--repeat`` runs (default 7) of

* ``python -c "import discT2"`` (the package itself; its names load on first use),
* ``discT2 --help``, ``discT2 --version`` and ``discT2 COMMAND --help`` for every sub-command,
* for reference, ``python -c pass`` (the interpreter alone) and the first use of the library
  (``from discT2 import fit_t2``, which imports numpy, numba, scipy and pydicom),

and the CPU count and 1-minute load average, since other jobs on the machine lengthen every run:
the best of several runs is the figure for an idle core. Targets: ``--help`` under 0.5 s,
``import discT2`` under 1 s.

Run: ``python benchmarks/startup.py [--repeat N]`` with the environment where discT2 is installed
(the ``discT2`` script is looked up next to the Python running this script, else on ``PATH``).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _discT2_script() -> str:
    here = Path(sys.executable).with_name("discT2")
    found = str(here) if here.is_file() else shutil.which("discT2")
    if found is None:
        raise SystemExit("the discT2 script is not installed (pip install -e .)")
    return found


def time_command(command: list[str], repeat: int) -> tuple[float, float]:
    """Best and median wall time (s) of ``command``, each run a fresh process."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per command (default 7)")
    args = parser.parse_args()

    from discT2.cli import SUBCOMMANDS

    script = _discT2_script()
    python = sys.executable
    commands: list[tuple[str, list[str], float | None]] = [
        ("python -c pass", [python, "-c", "pass"], None),
        ("import discT2", [python, "-c", "import discT2"], 1.0),
        ("discT2 --help", [script, "--help"], 0.5),
        ("discT2 --version", [script, "--version"], 0.5),
        *((f"discT2 {name} --help", [script, name, "--help"], 0.5) for name in SUBCOMMANDS),
        ("from discT2 import fit_t2", [python, "-c", "from discT2 import fit_t2"], None),
    ]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{platform.node() or 'this machine'}: {os.cpu_count()} CPUs, {platform.machine()}, "
        f"Python {platform.python_version()}; load average {load:.2f} at start; "
        f"{args.repeat} runs each"
    )
    print()
    print("| command | best s | median s | target s |")
    print("|---|---:|---:|---:|")
    over = []
    for label, command, target in commands:
        best, median = time_command(command, args.repeat)
        shown = f"< {target:g}" if target is not None else ""
        print(f"| `{label}` | {best:.3f} | {median:.3f} | {shown} |", flush=True)
        if target is not None and best >= target:
            over.append(label)
    print()
    print("over target (best run): " + (", ".join(over) if over else "none"))


if __name__ == "__main__":
    main()
