"""Accuracy of the disc ROIs against the phantom's truth, per way of placing them.

    PYTHONPATH=src python benchmarks/roi_accuracy.py [--preset cohort] [--subjects 4]
                                                     [--clicks 7] [--sample]

For every exam of a generated cohort (``discT2.phantom.preset_plan``: other anatomy, degenerated
discs, vendors, repositioning; or the committed ``sample_data/`` with ``--sample``), and every
lumbar disc wholly inside the field of view, the five ROIs are placed

* ``corners``: from the true corners (the reference: the phantom's own bands);
* ``click``: grown from one click at the disc's centre and at points in its middle third;
* ``auto``: found by ``detect_discs`` (levels checked: a disc counts when its centre is within
  5 mm of the true centre of the level it is named);
* ``propagated``: the baseline's true-corner ROIs carried to the 12-month visit.

Reported per mode: Dice of each ROI against the true band (no margins, on the slice used):
median, 5th percentile, minimum, and the minimum of each disc's mean; the corner error (mm:
median, 90th percentile, max); the ROI T2 error against the band's true T2 (default margins,
EPG fit: median and 90th percentile of |error| %, for the five ROIs and for the pooled nucleus);
and seconds per disc. Timings share the machine with whatever else runs; treat them as
indicative.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from discT2 import (
    DiscGeometry,
    detect_discs,
    fit_t2,
    grow_disc,
    load_series,
    measure,
    place_rois,
    propagate,
)
from discT2.roi.levels import LEVELS, ROI_NAMES

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
#: Clicks in the middle third (fraction anterior -> posterior, inferior -> superior).
CLICKS = [(0.5, 0.5), (1 / 3, 0.5), (2 / 3, 0.5), (0.5, 1 / 3), (0.5, 2 / 3), (1 / 3, 1 / 3)]
CLICKS += [(2 / 3, 2 / 3)]
NUCLEUS = ("NP_anterior", "NP_central", "NP_posterior")


@dataclass
class Exam:
    name: str
    series: object
    discs: dict  # level -> {"corners_ras_mm", "center_ras_mm"}
    labels: np.ndarray
    mid: int
    roi_t2: dict  # level -> roi -> ms
    _t2map: object = None

    @property
    def t2map(self):
        if self._t2map is None:
            self._t2map = fit_t2(self.series, method="epg")
        return self._t2map

    def in_view(self, level: str) -> bool:
        c = np.array(list(self.discs[level]["corners_ras_mm"].values()), float)
        ijk = self.series.world_to_voxel(c)
        upper = np.asarray(self.series.shape[:2], float) - 3
        return bool(np.all(ijk[:, :2] >= 2) and np.all(ijk[:, :2] <= upper))


def generated(preset: str, n_subjects: int):
    from discT2.phantom import preset_plan
    from discT2.phantom.study import simulate_visit

    plan = preset_plan(preset, n_subjects=n_subjects)
    for subject in plan.subjects:
        pair = []
        for months in plan.visits_months[:2]:
            e = simulate_visit(subject, months, plan.seed)
            pair.append(
                Exam(
                    f"{preset} {subject.code} m{months} {subject.vendor}",
                    e.series,
                    {lv: d.discs_json_entry() for lv, d in e.discs.items()},
                    e.roi_labels.astype(int),
                    e.mid_slice,
                    {lv: dict(d.roi_t2_ms) for lv, d in e.discs.items()},
                )
            )
        yield pair


def sample():
    import json

    for subject in ("S01", "S02", "S03", "S04"):
        pair = []
        for visit in ("baseline", "m12"):
            folder = SAMPLE / subject / visit
            discs = json.loads((folder / "truth" / "discs.json").read_text())
            truth = json.loads((folder / "truth" / "truth.json").read_text())
            pair.append(
                Exam(
                    f"sample {subject} {visit}",
                    load_series(folder / "dicom"),
                    {d["level"]: d for d in discs["discs"]},
                    np.asarray(nib.load(folder / "truth" / "rois.nii.gz").dataobj).astype(int),
                    int(discs["mid_sagittal_slice"]),
                    {
                        d["level"]: {n: r["t2_ms"] for n, r in d["rois"].items()}
                        for d in truth["discs"]
                    },
                )
            )
        yield pair


def point(corners: dict, t: float, s: float) -> np.ndarray:
    c = {k: np.asarray(v, float) for k, v in corners.items()}
    return (1 - s) * (c["AI"] + t * (c["PI"] - c["AI"])) + s * (c["AS"] + t * (c["PS"] - c["AS"]))


class Tally:
    def __init__(self) -> None:
        self.dice: list[np.ndarray] = []
        self.corner: list[float] = []
        self.t2: list[float] = []
        self.np_t2: list[float] = []
        self.seconds: list[float] = []
        self.failed = 0
        self.wrong_level = 0

    def add_geometry(self, exam: Exam, disc: DiscGeometry, level: str) -> None:
        rois = place_rois(exam.series, [disc], endplate_margin=0, outer_margin=0)
        n, k = LEVELS.index(level), int(disc.slice)
        self.dice.append(
            np.array([_dice(rois.labels[..., k] == 10 * n + r, exam.labels[..., k] == 10 * n + r)
                      for r in range(1, 6)])
        )  # fmt: skip
        truth = exam.discs[level]["corners_ras_mm"]
        for name, p in disc.corners_ras_mm.items():
            self.corner.append(float(np.linalg.norm((p - np.asarray(truth[name]))[1:])))

    def add_t2(self, exam: Exam, discs: list[DiscGeometry], t2map=None) -> None:
        t2map = t2map if t2map is not None else exam.t2map
        table = measure(t2map, place_rois(t2map, discs, on_error="flag"))
        for level, truth in exam.roi_t2.items():
            rows = table[table.level == level]
            if rows.empty:
                continue
            for roi in ROI_NAMES:
                value = rows[rows.roi == roi].t2_mean_ms.iloc[0]
                if np.isfinite(value):
                    self.t2.append(100 * abs(value / truth[roi] - 1))
            n = LEVELS.index(level)
            weights = [(exam.labels[..., exam.mid] == 10 * n + k).sum() for k in (2, 3, 4)]
            pooled = np.average([truth[r] for r in NUCLEUS], weights=weights)
            value = rows[rows.roi == "NP"].t2_mean_ms.iloc[0]
            if np.isfinite(value):
                self.np_t2.append(100 * abs(value / pooled - 1))

    def row(self, mode: str) -> str:
        d = np.array(self.dice)
        c = np.array(self.corner)
        t2, np_t2 = np.array(self.t2), np.array(self.np_t2)
        extra = f", {self.failed} not placed" if self.failed else ""
        extra += f", {self.wrong_level} at a wrong level" if self.wrong_level else ""
        return (
            f"| {mode} | {len(d)}{extra} | {np.median(d):.2f}, {np.percentile(d, 5):.2f}, "
            f"{d.min():.2f}; {d.mean(axis=1).min():.2f} | {np.median(c):.2f}, "
            f"{np.percentile(c, 90):.2f}, {c.max():.2f} | {np.median(t2):.1f}, "
            f"{np.percentile(t2, 90):.1f} | {np.median(np_t2):.1f}, {np.percentile(np_t2, 90):.1f}"
            f" | {np.median(self.seconds):.2f} |"
            if len(d)
            else f"| {mode} | 0{extra} | | | | | |"
        )


def _dice(a, b) -> float:
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else 2.0 * float((a & b).sum()) / float(total)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cohort", help="phantom preset (cohort, highres, ...)")
    parser.add_argument("--subjects", type=int, default=4)
    parser.add_argument("--clicks", type=int, default=len(CLICKS), help="clicks per disc (1-7)")
    parser.add_argument("--sample", action="store_true", help="the committed sample study")
    parser.add_argument(
        "--modes",
        default="corners,click,auto,propagated",
        help="comma-separated modes to measure (default all four)",
    )
    args = parser.parse_args(argv)
    modes = [m for m in ("corners", "click", "auto", "propagated") if m in args.modes.split(",")]
    logging.getLogger("discT2").setLevel(logging.ERROR)
    tallies = defaultdict(Tally)
    pairs = sample() if args.sample else generated(args.preset, args.subjects)
    first = None
    for baseline, followup in pairs:
        first = first or baseline
        for exam in (baseline, followup) if set(modes) - {"propagated"} else ():
            levels = [lv for lv in exam.discs if exam.in_view(lv)]
            truth = [
                DiscGeometry(lv, corners_ras_mm=exam.discs[lv]["corners_ras_mm"]) for lv in levels
            ]
            t = tallies["corners"]
            for disc in truth:
                start = time.perf_counter()
                t.add_geometry(exam, place_rois(exam.series, [disc]).discs[0], disc.level)
                t.seconds.append(time.perf_counter() - start)
            t.add_t2(exam, truth)
            t, grown = tallies["click"], []
            for level in levels:
                for i, (tt, ss) in enumerate(CLICKS[: args.clicks]):
                    start = time.perf_counter()
                    try:
                        disc = grow_disc(
                            exam.series, point(exam.discs[level]["corners_ras_mm"], tt, ss), level
                        )
                    except Exception:  # a refusal is counted, not fatal
                        t.failed += 1
                        continue
                    t.seconds.append(time.perf_counter() - start)
                    t.add_geometry(exam, disc, level)
                    if i == 0:
                        grown.append(disc)
            t.add_t2(exam, grown)
            t = tallies["auto"]
            start = time.perf_counter()
            found = detect_discs(exam.series)
            t.seconds.append((time.perf_counter() - start) / max(len(found), 1))
            by_level = {d.level: d for d in found}
            kept = []
            for level in levels:
                disc = by_level.get(level)
                if disc is None:
                    t.failed += 1
                    continue
                offset = np.linalg.norm(
                    (disc.centre_ras_mm - exam.discs[level]["center_ras_mm"])[1:]
                )
                if offset > 5.0:
                    t.wrong_level += 1
                    continue
                t.add_geometry(exam, disc, level)
                kept.append(disc)
            t.add_t2(exam, kept)
        if "propagated" not in modes:
            continue
        t = tallies["propagated"]
        levels = [lv for lv in baseline.discs if baseline.in_view(lv) and followup.in_view(lv)]
        drawn = [
            DiscGeometry(lv, corners_ras_mm=baseline.discs[lv]["corners_ras_mm"]) for lv in levels
        ]
        start = time.perf_counter()
        rois = propagate(baseline.series, place_rois(baseline.series, drawn), followup.series)
        t.seconds.append((time.perf_counter() - start) / max(len(levels), 1))
        for disc in rois.discs:
            t.add_geometry(followup, disc, disc.level)
        t.add_t2(followup, rois.discs)
    source = "sample_data/" if args.sample else f"preset '{args.preset}', {args.subjects} subjects"
    pixel = float(np.mean(first.series.voxel_size_mm[:2]))
    print(f"{source}: baseline + 12 months each, {pixel:.3f} mm pixels, "
          f"{args.clicks} clicks per disc")  # fmt: skip
    print(
        "| mode | discs | ROI Dice: median, 5th pct, min; min disc mean | corner error mm: "
        "median, 90th pct, max | ROI T2 error %: median, 90th pct | NP T2 error %: median, "
        "90th pct | s / disc |"
    )
    print("|---|---|---|---|---|---|---|")
    for mode in modes:
        print(tallies[mode].row(mode))


if __name__ == "__main__":
    main()
