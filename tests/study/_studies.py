"""Synthetic studies for the runner tests: a small phantom cohort and manifests built on it."""

from __future__ import annotations

import csv
import os
import shutil
from dataclasses import replace
from pathlib import Path

from discT2.phantom.study import PRESETS, make_study, plan_study

#: The cohort: 4 subjects (one per DICOM convention: siemens, ge, philips, siemens enhanced),
#: baseline, 6 and 12 months, the sample study's resolution without sub-voxel partial volume.
N_SUBJECTS = 4
VISITS_MONTHS = (0, 6, 12)
SEED = 11


def make_cohort(folder: Path):
    protocol = replace(PRESETS["sample"]["protocol"], supersample=1)
    plan = plan_study(
        N_SUBJECTS, visits_months=VISITS_MONTHS, seed=SEED, vendor="mixed", protocol=protocol
    )
    return make_study(folder, plan)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def write_manifest(path: Path, rows: list[dict[str, str]], columns=None) -> Path:
    columns = columns or ["subject", "visit", "months", "dicom", "index_disc", "control_discs",
                          "discs"]  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    return path


def manifest_rows(cohort, *, discs_everywhere=(), subjects=None) -> list[dict[str, str]]:
    """Rows of the cohort's study.csv with absolute paths; subjects in ``discs_everywhere`` get
    their true discs.json at every visit (else only at baseline, as make_study writes it)."""
    rows = []
    for written in read_rows(cohort.study_csv):
        if subjects is not None and written["subject"] not in subjects:
            continue
        row = dict(written)
        row["dicom"] = str(cohort.folder / row["dicom"])
        if row["subject"] in discs_everywhere:
            row["discs"] = f"{row['subject']}/{row['visit']}/truth/discs.json"
        row["discs"] = str(cohort.folder / row["discs"]) if row["discs"] else ""
        rows.append(row)
    return rows


def truncate_one_file(dicom: Path, dest: Path) -> Path:
    """A copy of a DICOM folder with one file cut in half (truncated pixel data)."""
    shutil.copytree(dicom, dest)
    victim = sorted(dest.iterdir())[4]
    size = victim.stat().st_size
    with victim.open("r+b") as fh:
        fh.truncate(size // 2)
    return victim


def drop_one_file(dicom: Path, dest: Path) -> Path:
    """A copy of a DICOM folder with one image (one slice of one echo) missing."""
    shutil.copytree(dicom, dest)
    victim = sorted(dest.iterdir())[6]
    os.remove(victim)
    return victim
