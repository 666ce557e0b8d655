"""Accuracy of every fit method against the sample study's exact truth: the validation page.

For each exam of the bundled sample study (4 subjects x 2 visits, Siemens, GE, Philips and
Siemens-enhanced DICOM) and each fit method, the series is fitted, the five ROIs of every disc
are placed from the exam's **true** corners (``truth/discs.json``, so that the comparison
isolates the fit from the ROI placement), measured with the defaults of ``discT2 measure``, and
compared with

1. the true T2 of each ROI (``truth/truth.json``; constant within a band, so it does not depend
   on which voxels the ROI keeps): error of the ROI mean in %;
2. the true % change of each ROI of the index and control discs from baseline to 12 months
   (``truth.csv``): error in percentage points.

Writes ``docs/methods/validation_sample.md`` (the tables the page includes) and
``docs/figures/validation_sample.png``, and prints the tables. Deterministic (the sample study is
fixed; the fits have no randomness). Run from the checkout:

    PYTHONPATH=src python benchmarks/validation.py
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import discT2

ROOT = Path(__file__).resolve().parents[1]
TABLES = ROOT / "docs" / "methods" / "validation_sample.md"
FIGURE = ROOT / "docs" / "figures" / "validation_sample.png"
FIVE = list(discT2.ROI_NAMES)
Y_RANGE = (-10.0, 25.0)  # % error shown; points beyond are drawn on the edge


def true_roi_t2(exam: Path) -> pd.DataFrame:
    truth = json.loads((exam / "truth" / "truth.json").read_text())
    rows = [
        (d["level"], roi, r["t2_ms"], r["b1_mean"], r["snr_echo1"])
        for d in truth["discs"]
        for roi, r in d["rois"].items()
    ]
    return pd.DataFrame(rows, columns=["level", "roi", "true_t2_ms", "b1", "snr_echo1"])


def measure_exam(exam: Path, method: str) -> pd.DataFrame:
    series = discT2.load_series(exam / "dicom")
    t2map = discT2.fit_t2(series, method=method)
    discs = discT2.load_discs(exam / "truth" / "discs.json")
    rois = discT2.place_rois(t2map, discs)
    table = discT2.measure(t2map, rois)
    return table.loc[table["roi"].isin(FIVE), ["level", "roi", "n_voxels", "t2_mean_ms"]]


def run(methods: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    sample = discT2.sample_study()
    study = pd.read_csv(sample / "study.csv")
    rows, seconds = [], {}
    for method in methods:
        start = time.perf_counter()
        for exam_row in study.itertuples():
            exam = sample / exam_row.subject / exam_row.visit
            m = measure_exam(exam, method).merge(true_roi_t2(exam), on=["level", "roi"])
            m["subject"], m["visit"], m["method"] = exam_row.subject, exam_row.visit, method
            m["vendor"] = discT2.find_series(exam / "dicom")[0].vendor
            rows.append(m)
        seconds[method] = time.perf_counter() - start
    roi_table = pd.concat(rows, ignore_index=True)
    roi_table["error_pct"] = 100 * (roi_table["t2_mean_ms"] / roi_table["true_t2_ms"] - 1)

    truth = pd.read_csv(sample / "truth.csv")
    truth = truth[truth["roi"].isin(FIVE)]
    base = roi_table[roi_table["visit"] == "baseline"]
    follow = roi_table[roi_table["visit"] != "baseline"]
    keys = ["method", "subject", "level", "roi"]
    change = follow.merge(base[[*keys, "t2_mean_ms"]], on=keys, suffixes=("", "_baseline"))
    change["change_pct"] = 100 * (change["t2_mean_ms"] / change["t2_mean_ms_baseline"] - 1)
    change = change.merge(
        truth[["subject", "level", "roi", "visit", "role", "change_pct"]],
        on=["subject", "level", "roi", "visit"],
        suffixes=("", "_true"),
    )
    change["change_error_pp"] = change["change_pct"] - change["change_pct_true"]
    return roi_table, change, seconds


def _q(values: pd.Series, q: float) -> float:
    return float(np.nanquantile(values, q))


def summary_tables(roi_table: pd.DataFrame, change: pd.DataFrame) -> tuple[str, str, str]:
    lines = [
        "| method | ROIs (no valid voxel) | median error % | 5th-95th percentile % | NP: median % "
        "| AF: median % | worst % |",
        "|---|---|---|---|---|---|---|",
    ]
    for method, g in roi_table.groupby("method", sort=False):
        np_err = g.loc[g["roi"].str.startswith("NP"), "error_pct"]
        af_err = g.loc[g["roi"].str.startswith("AF"), "error_pct"]
        worst = g["error_pct"].iloc[int(np.nanargmax(np.abs(g["error_pct"].to_numpy())))]
        empty = int(g["error_pct"].isna().sum())
        lines.append(
            f"| `{method}` | {len(g)} ({empty}) | {g['error_pct'].median():+.1f} | "
            f"{_q(g['error_pct'], 0.05):+.1f} to {_q(g['error_pct'], 0.95):+.1f} | "
            f"{np_err.median():+.1f} | {af_err.median():+.1f} | {worst:+.1f} |"
        )
    accuracy = "\n".join(lines)

    columns = _vendor_subjects(roi_table)
    lines = [
        "| method | " + " | ".join(f"{s}: {v}" for v, s in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for method, g in roi_table.groupby("method", sort=False):
        cells = [
            f"{g.loc[g['subject'] == s, 'error_pct'].median():+.1f}"
            for _, s in _vendor_subjects(roi_table)
        ]
        lines.append(f"| `{method}` | " + " | ".join(cells) + " |")
    per_vendor = "\n".join(lines)

    lines = [
        "| method | index ROIs: mean, SD, max \\|error\\| (pp) "
        "| control ROIs: mean, SD, max \\|error\\| (pp) |",
        "|---|---|---|",
    ]
    for method, g in change.groupby("method", sort=False):
        cells = []
        for role in ("index", "control"):
            e = g.loc[g["role"] == role, "change_error_pp"]
            cells.append(f"{e.mean():+.2f}, {e.std():.2f}, {e.abs().max():.2f} (n {len(e)})")
        lines.append(f"| `{method}` | " + " | ".join(cells) + " |")
    return accuracy, per_vendor, "\n".join(lines)


def _vendor_subjects(roi_table: pd.DataFrame) -> list[tuple[str, str]]:
    pairs = roi_table[["vendor", "subject"]].drop_duplicates()
    return [(v, s) for v, s in zip(pairs["vendor"], pairs["subject"], strict=True)]


def figure(roi_table: pd.DataFrame, path: Path) -> None:
    methods = list(dict.fromkeys(roi_table["method"]))
    fig, axes = plt.subplots(1, len(methods), figsize=(2.6 * len(methods), 2.9), sharey=True)
    for ax, method in zip(np.atleast_1d(axes), methods, strict=True):
        g = roi_table[roi_table["method"] == method]
        for part, colour in (("AF", "#1b7837"), ("NP", "#762a83")):
            sel = g[g["roi"].str.startswith(part)]
            err = sel["error_pct"].clip(*Y_RANGE)
            clipped = err != sel["error_pct"]
            ax.scatter(sel["true_t2_ms"][~clipped], err[~clipped], s=7, color=colour, label=part)
            ax.scatter(sel["true_t2_ms"][clipped], err[clipped], s=14, color=colour, marker="^")
        n_out = int((~g["error_pct"].between(*Y_RANGE)).sum())
        ax.axhline(0.0, color="0.5", lw=0.8)
        ax.set_ylim(Y_RANGE[0] - 1, Y_RANGE[1] + 1)
        ax.set_title(method + (f" ({n_out} beyond, on the edge)" if n_out else ""), fontsize=9)
        ax.set_xlabel("true ROI T2 (ms)")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("error of the ROI mean (%)")
    np.atleast_1d(axes)[0].legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(discT2.FIT_METHODS))
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    roi_table, change, seconds = run(args.methods)
    accuracy, per_vendor, changes = summary_tables(roi_table, change)
    timing = ", ".join(f"`{m}` {s:.0f} s" for m, s in seconds.items())
    text = (
        "<!-- Written by benchmarks/validation.py; do not edit. -->\n\n"
        f"**ROI T2 against the truth** ({roi_table['subject'].nunique()} subjects x "
        f"{roi_table['visit'].nunique()} visits x 5 discs x 5 ROIs, true corners):\n\n"
        f"{accuracy}\n\n"
        "**Median error % per scanner convention** (each subject has its own scanner and "
        "B1 pattern):\n\n"
        f"{per_vendor}\n\n"
        "**Change from baseline to 12 months** against the true change (index disc: the "
        "treatment effect; controls: truly unchanged), percentage points:\n\n"
        f"{changes}\n"
    )
    print(text)
    print(f"fit + ROIs + measure of the 8 exams: {timing} (indicative; shared machine)")
    if not args.no_write:
        TABLES.write_text(text)
        figure(roi_table, FIGURE)
        print(f"wrote {TABLES.relative_to(ROOT)} and {FIGURE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
