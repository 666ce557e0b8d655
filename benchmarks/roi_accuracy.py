"""Accuracy of one-click growing against the synthetic spines of the ROI tests.

    PYTHONPATH=src python benchmarks/roi_accuracy.py

For several grids (pixel size, in-plane axis order, oblique planes), noise levels and cortical
endplates, a click is placed at the centre of every disc and at four off-centre points (30 % and
70 % along the disc and across it), on the echo images and on the T2 map. It prints, per grid,
how many clicks were refused, the corner errors (pixels) and the Dice of the five ROIs against
the true bands (no margins), and the seconds per disc. Timings share the machine with whatever
else runs; treat them as indicative.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

from discT2 import grow_disc, place_rois
from discT2.roi.levels import LEVELS

_SYN = Path(__file__).resolve().parents[1] / "tests" / "roi" / "_synthetic.py"
spec = importlib.util.spec_from_file_location("discT2_tests_synthetic", _SYN)
syn = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = syn
spec.loader.exec_module(syn)

GRIDS = [
    {"pixel_mm": (1.0, 1.0), "in_plane": ("S-", "A-"), "cortex": 0.0, "sigma": 0.02},
    {"pixel_mm": (0.6, 0.6), "in_plane": ("A+", "S+"), "cortex": 1.0, "sigma": 0.03},
    {"pixel_mm": (2.0, 1.5), "in_plane": ("S+", "A-"), "cortex": 0.0, "sigma": 0.02},
    {"pixel_mm": (1.3, 1.2), "in_plane": ("A-", "S-"), "cortex": 1.0, "sigma": 0.04},
    {"pixel_mm": (0.8, 0.8), "in_plane": ("S-", "A+"), "cortex": 0.5, "sigma": 0.01, "rot": 20},
]
CLICKS = [(0.5, 0.5), (0.3, 0.5), (0.7, 0.5), (0.5, 0.3), (0.5, 0.7)]


def main() -> None:
    print(
        "grid | image | refused | corner error px (median, 90th, max) | "
        "ROI Dice (disc mean: median, 10th; worst ROI) | s/disc"
    )
    for grid in GRIDS:
        fov = 230.0
        shape = (int(fov / grid["pixel_mm"][0]), int(fov / grid["pixel_mm"][1]), 3)
        affine = syn.sagittal_affine(
            shape=shape,
            pixel_mm=grid["pixel_mm"],
            in_plane=grid["in_plane"],
            inplane_rotation_deg=grid.get("rot", 0.0),
        )
        spine = syn.make_spine(cortex_mm=grid["cortex"], degenerated=("L4-L5", "L5-S1"))
        exam = syn.make_exam(
            spine,
            shape=shape,
            affine=affine,
            sigma=grid["sigma"],
            supersample=3,
            t2_noise_ms=40 * grid["sigma"] * 2,
        )
        pixel = float(np.mean(grid["pixel_mm"]))
        for image in (exam.series, exam.t2map):
            refused, errors, means, worst, seconds = 0, [], [], [], []
            for level, c in exam.corners_ras.items():
                for t, s in CLICKS:
                    upper = c["AS"] + t * (c["PS"] - c["AS"])
                    lower = c["AI"] + t * (c["PI"] - c["AI"])
                    start = time.perf_counter()
                    try:
                        g = grow_disc(image, lower + s * (upper - lower), level)
                    except Exception:  # a refusal is counted, not fatal
                        refused += 1
                        continue
                    seconds.append(time.perf_counter() - start)
                    errors += [np.linalg.norm(g.corners_ras_mm[n] - c[n]) / pixel for n in c]
                    rois = place_rois(image, [g], endplate_margin=0, outer_margin=0)
                    n = LEVELS.index(level)
                    k = exam.mid_slice
                    dice = [
                        syn.dice(
                            rois.labels[:, :, k] == 10 * n + r,
                            exam.truth_labels[:, :, k] == 10 * n + r,
                        )
                        for r in range(1, 6)
                    ]
                    means.append(np.mean(dice))
                    worst.append(np.min(dice))
            name = type(image).__name__
            print(
                f"{grid['pixel_mm']} {grid['in_plane']} cortex {grid['cortex']} sigma "
                f"{grid['sigma']} | {name} | {refused}/{len(LEVELS) * len(CLICKS)} | "
                f"{np.median(errors):.2f}, {np.percentile(errors, 90):.2f}, {np.max(errors):.2f} | "
                f"{np.median(means):.2f}, {np.percentile(means, 10):.2f}; {np.min(worst):.2f} | "
                f"{np.mean(seconds):.2f}"
            )


if __name__ == "__main__":
    main()
