"""Real relaxometry phantom: every sphere's T2, per method, against the nominal value.

The series are the T2 plate ("plate 4", MnCl2) of an ISMRM/NIST-type system phantom on a Siemens
Aera and a Philips Ingenia, and the T1 plate ("plate 5", NiCl2, T1 close to T2) on the Philips
(1.5 T, 32 echoes each), read with ``discT2.load_series`` as a user would. Nominal T2 and T1 are
the phantom's published reference values at 1.5 T and about 20 degrees C (Stupic et al., MRM
2021;86:1194-1211).

Spheres are found without coordinates: round regions of the reference fit (``nlls``) that are
shorter than the surrounding fluid, eroded by two pixels; they are matched to the nominal
values once per series, by value on the reference fit (order on the ring is not given), and the
same sphere-to-nominal match is used for every method. Per sphere the median over its voxels is
reported.

Methods: ``discT2 fit`` with no options (``epg``: slice profile from the header, smooth B1
field, T1 1000 ms), the same with each sphere's nominal T1 (what a T1 map would give), ``epg``
with B1 free per voxel, the mono-exponential ``nlls`` (and skipping echo 1), ``ncexp``,
``offset``, and the approach of the hazen QA tool: the ROI-mean decay of each sphere, first
echo left out, fitted with the Rician expectation (here discT2's ``ncexp`` on the mean curve
with the background noise level; the mean of Rician voxels has the Rician expectation).

Writes ``docs/methods/validation_phantom.md`` (the tables the validation page includes) and
prints them. Needs the real data (``DISCT2_REALDATA`` or ``../shared/realdata`` beside the
checkout). Run: ``PYTHONPATH=src python benchmarks/validation_phantom.py``.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

import discT2
from discT2 import EPGOptions, T2Model
from discT2.fit import estimate_noise_sigma

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "methods" / "validation_phantom.md"

#: Reference values at 1.5 T (ms), spheres 1..14 (Stupic et al. 2021, supplementary tables).
PLATES = {
    "plate 4 (T2, MnCl2)": {
        "t2": [939.4, 594.3, 416.5, 267.0, 184.9, 140.6, 91.76, 64.84, 45.28, 30.62, 19.76,
               15.99, 10.47, 8.15],
        "t1": [2736, 2183, 1870, 1539, 1237, 1030, 752.2, 550.2, 413.4, 292.9, 194.9, 160.2,
               106.4, 83.33],
    },
    "plate 5 (T1, NiCl2)": {
        "t2": [1669.0, 1244.0, 859.3, 628.5, 446.3, 321.2, 227.7, 161.9, 117.1, 81.9, 57.7,
               41.0, 28.7, 20.2],
        "t1": [2033, 1489, 1012, 730.8, 514.1, 367.9, 260.1, 184.6, 132.7, 92.7, 65.4, 46.32,
               32.45, 22.859],
    },
}  # fmt: skip
SERIES = {
    "Siemens Aera": ("phantom_siemens_aera_1p5T_32echo", "plate 4 (T2, MnCl2)"),
    "Philips Ingenia": (
        "phantom_philips_ingenia_1p5T_32echo/plate4_T2spheres",
        "plate 4 (T2, MnCl2)",
    ),
    "Philips Ingenia ": (
        "phantom_philips_ingenia_1p5T_32echo/plate5_T1spheres",
        "plate 5 (T1, NiCl2)",
    ),
}
#: The range the issue of the phantom's accuracy is judged on (nominal T2, ms).
JUDGED = (20.0, 600.0)


def realdata() -> Path:
    env = os.environ.get("DISCT2_REALDATA")
    if env:
        return Path(env)
    for parent in ROOT.parents:
        candidate = parent / "shared" / "realdata"
        if candidate.is_dir():
            return candidate
    raise SystemExit("real data not found: set DISCT2_REALDATA")


def find_spheres(t2_ms: np.ndarray) -> list[np.ndarray]:
    """Interiors of the round regions shorter than the surrounding fluid (about 2.4 s)."""
    t2 = t2_ms[:, :, 0]
    candidates = ndimage.binary_opening(np.isfinite(t2) & (t2 < 1500.0))
    labels, n = ndimage.label(candidates)
    regions = []
    for i in range(1, n + 1):
        region = labels == i
        rows, cols = np.nonzero(region)
        extent = max(np.ptp(rows), np.ptp(cols)) + 1
        if 20 <= region.sum() <= 400 and region.sum() / (np.pi * (extent / 2) ** 2) > 0.6:
            core = ndimage.binary_erosion(region, iterations=2)
            if core.sum() >= 5:
                regions.append(core)
    return regions


def match(reference_t2: np.ndarray, regions: list[np.ndarray], nominal: np.ndarray) -> dict:
    """Nominal sphere index -> region, by value on the reference fit (log distance)."""
    med = np.array([np.nanmedian(reference_t2[:, :, 0][r]) for r in regions])
    rows, cols = linear_sum_assignment(np.log(med[:, None] / nominal[None, :]) ** 2)
    return {int(c): regions[r] for r, c in zip(rows, cols, strict=True)}


def sphere_medians(t2_ms: np.ndarray, spheres: dict, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    for k, region in spheres.items():
        out[k] = np.nanmedian(t2_ms[:, :, 0][region])
    return out


def fit_default_with_true_t1(series, spheres, plate) -> np.ndarray:
    """The default fit with each sphere's nominal T1, as a T1 map would give it."""
    t1_map = np.full(series.shape, 1000.0)
    for k, region in spheres.items():
        t1_map[:, :, 0][region] = plate["t1"][k]
    fitted = T2Model(series.echo_times_ms, epg=EPGOptions(t1_ms=t1_map)).fit(series, mask="auto")
    return fitted.t2_ms


def hazen_like(series, spheres, n: int) -> np.ndarray:
    """ROI-mean decays, echo 1 left out, fitted with the Rician expectation."""
    sigma = estimate_noise_sigma(series)
    te = series.echo_times_ms
    out = np.full(n, np.nan)
    for k, region in spheres.items():
        curve = series.data[:, :, 0][region].mean(axis=0)
        fitted = T2Model(te, "ncexp", skip_first_echo=True, sigma=sigma).fit(curve)
        out[k] = float(fitted.t2_ms.ravel()[0])
    return out


def evaluate(name: str, folder: Path, plate_name: str) -> tuple[dict, dict]:
    plate = {k: np.asarray(v, dtype=float) for k, v in PLATES[plate_name].items()}
    series = discT2.load_series(folder)
    te = series.echo_times_ms
    reference = T2Model(te, "nlls").fit(series, mask="auto")
    spheres = match(reference.t2_ms, find_spheres(reference.t2_ms), plate["t2"])
    n = plate["t2"].size
    results: dict[str, np.ndarray] = {}
    timing: dict[str, float] = {}
    methods = {
        "default (epg)": lambda: T2Model(te).fit(series, mask="auto").t2_ms,
        "default, nominal T1": lambda: fit_default_with_true_t1(series, spheres, plate),
        "epg, B1 per voxel": lambda: T2Model(te, b1="voxel").fit(series, mask="auto").t2_ms,
        "nlls": lambda: reference.t2_ms,
        "nlls skip-1": lambda: (
            T2Model(te, "nlls", skip_first_echo=True).fit(series, mask="auto").t2_ms
        ),
        "ncexp": lambda: T2Model(te, "ncexp").fit(series, mask="auto").t2_ms,
        "offset": lambda: T2Model(te, "offset").fit(series, mask="auto").t2_ms,
    }
    for label, run in methods.items():
        start = time.perf_counter()
        results[label] = sphere_medians(run(), spheres, n)
        timing[label] = time.perf_counter() - start
    results["hazen-like ROI mean"] = hazen_like(series, spheres, n)
    default = T2Model(te).fit(series, mask="auto")
    info = {
        "plate": plate_name,
        "nominal": plate["t2"],
        "found": len(spheres),
        "te": f"{te.size} echoes {te[0]:g}-{te[-1]:g} ms",
        "refocusing": f"{default.provenance['refocusing_deg_used']:g} deg "
        f"({default.provenance['refocusing_source']})",
        "b1": default.provenance.get("b1_field", {}).get("global_b1"),
        "timing": timing,
    }
    return results, info


def tables(all_results: dict) -> str:
    lines = []
    summary = ["| scanner, plate | " + " | ".join(next(iter(all_results.values()))[0]) + " |"]
    summary.append("|---" * (len(next(iter(all_results.values()))[0]) + 1) + "|")
    for name, (results, info) in all_results.items():
        nominal = info["nominal"]
        judged = (nominal >= JUDGED[0]) & (nominal <= JUDGED[1])
        cells = []
        for values in results.values():
            err = np.abs(values[judged] / nominal[judged] - 1)
            cells.append(f"{100 * np.nanmedian(err):.1f} %")
        summary.append(
            f"| {name.strip()}, {info['plate'].split(' (')[0]} | " + " | ".join(cells) + " |"
        )
        lines.append(
            f"\n**{name.strip()}, {info['plate']}**: {info['te']}; "
            f"refocusing {info['refocusing']}; {info['found']} spheres found; "
            f"smooth B1 field median {info['b1']}.\n"
        )
        lines.append("| nominal T2 (ms) | " + " | ".join(results) + " |")
        lines.append("|---" * (len(results) + 1) + "|")
        for k, nom in enumerate(nominal):
            row = []
            for values in results.values():
                v = values[k]
                row.append("–" if not np.isfinite(v) else f"{v:.1f} ({100 * (v / nom - 1):+.0f} %)")
            lines.append(f"| {nom:g} | " + " | ".join(row) + " |")
    head = [
        "<!-- written by benchmarks/validation_phantom.py; do not edit by hand -->",
        "",
        f"Median |error| over the spheres with nominal T2 {JUDGED[0]:g}-{JUDGED[1]:g} ms:",
        "",
        *summary,
        "",
        "Per sphere: measured median T2 in ms (error against nominal).",
    ]
    return "\n".join(head + lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    root = realdata()
    warnings.simplefilter("ignore")
    all_results = {}
    for name, (folder, plate) in SERIES.items():
        all_results[name] = evaluate(name, root / folder, plate)
    text = tables(all_results)
    print(text)
    for name, (_, info) in all_results.items():
        print(
            name.strip(), "seconds per method:", {k: round(v, 2) for k, v in info["timing"].items()}
        )
    if not args.no_write:
        OUT.write_text(text)
        print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
