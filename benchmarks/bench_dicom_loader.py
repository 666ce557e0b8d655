"""Time the DICOM loader: header scan (find_series) and full load (load_series).

Run: ``python benchmarks/bench_dicom_loader.py [FOLDER ...]``. Without folders it writes a
synthetic 24-slice x 12-echo series (288 files of 256 x 256) into a temporary folder and also
times the real knee series in ../shared/realdata when present. Timings on a shared machine vary;
repeat them on a quiet one before quoting.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from discT2 import MultiEchoSeries, find_series, load_series
from discT2.io.dicom_write import write_dicom_series


def _time(label: str, folder: Path) -> None:
    n_files = sum(1 for f in folder.rglob("*") if f.is_file())
    start = time.perf_counter()
    infos = find_series(folder)
    scanned = time.perf_counter() - start
    start = time.perf_counter()
    series = load_series(folder, series=infos[0]) if infos else None
    loaded = time.perf_counter() - start
    print(
        f"{label}: {n_files} files; find_series {scanned:.2f} s "
        f"({1000 * scanned / max(n_files, 1):.1f} ms/file); load_series {loaded:.2f} s"
        f" -> {series!r}"
    )


def main(argv: list[str]) -> int:
    for folder in argv:
        _time(folder, Path(folder))
    if argv:
        return 0
    rng = np.random.default_rng(0)
    te = 10.0 * np.arange(1, 13)
    data = np.rint(rng.uniform(100, 4000, (256, 256, 24))[..., None] * np.exp(-te / 80.0))
    affine = np.array([[0, 0, 4.0, -48], [-0.8, 0, 0, 100], [0, -0.8, 0, 100], [0, 0, 0, 1]])
    with tempfile.TemporaryDirectory() as tmp:
        write_dicom_series(MultiEchoSeries(data, te, affine), tmp, vendor="philips", uid_seed="b")
        _time("synthetic Philips 24 slices x 12 echoes", Path(tmp))
    knee = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "knee_ge_mr750_3T_8echo"
    if knee.is_dir():
        _time("GE knee, big endian", knee)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
