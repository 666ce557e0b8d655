"""The ``--dicom-out`` options that ``fit``, ``rois``, ``measure`` and ``run`` share."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from discT2.errors import InputError

__all__ = ["add_dicom_options", "recorded_source", "write_results", "write_study_results"]

logger = logging.getLogger("discT2")

#: The identities of :func:`discT2.io.dicom_results.write_dicom_results` (importing it here would
#: load highdicom for every command).
IDENTITY_CHOICES: tuple[str, ...] = ("deidentified", "source")


def add_dicom_options(parser: argparse.ArgumentParser, *, source: bool) -> None:
    """Add ``--dicom-out``, ``--dicom-identity`` and (with ``source``) ``--dicom-source``."""
    group = parser.add_argument_group("DICOM results")
    group.add_argument(
        "--dicom-out",
        type=Path,
        metavar="DIR",
        help="also write the results as DICOM into DIR (Parametric Maps, Segmentation, "
        "measurement SR) on the source series' grid; needs a DICOM source",
    )
    group.add_argument(
        "--dicom-identity",
        choices=IDENTITY_CHOICES,
        default="deidentified",
        help="'deidentified' (default: PS3.15 basic profile, new UIDs) or 'source' (copy the "
        "patient and study identification and UIDs from the source)",
    )
    if source:
        group.add_argument(
            "--dicom-source",
            metavar="PATH",
            help="the DICOM series the map was fitted to (default: the source fit.json records)",
        )


def recorded_source(args: argparse.Namespace, image: Any) -> str:
    """The DICOM source: ``--dicom-source``, else the source the image's metadata records."""
    given = getattr(args, "dicom_source", None)
    if given:
        return str(given)
    meta = getattr(image, "meta", {}) or {}
    provenance = getattr(image, "provenance", {}) or {}
    found = meta.get("source") or provenance.get("source")
    if not found:
        raise InputError(
            "--dicom-out: the map records no source series; give --dicom-source with the DICOM "
            "series it was fitted to"
        )
    return str(found)


def write_results(
    args: argparse.Namespace, source: str, series: Any = None, **results: Any
) -> None:
    """Write the results given as keywords with the command's identity option, and log them."""
    from discT2.io.dicom_results import write_dicom_results

    written = write_dicom_results(
        args.dicom_out, source, series=series, identity=args.dicom_identity, **results
    )
    logger.info(
        "wrote DICOM %s into %s", ", ".join(p.name for p in written.values()), args.dicom_out
    )


def write_study_results(args: argparse.Namespace, manifest: Path, out: Path) -> int:
    """DICOM results of every measured exam of a study run; returns the number that failed.

    Each exam's results go to ``DICOM_OUT/<subject>/<visit>/``, de-identified with the subject
    label of the manifest as pseudonym. An exam that fails is logged and the others go on.
    """
    import pandas as pd

    from discT2.errors import DiscT2Error
    from discT2.io.dicom_results import write_dicom_results
    from discT2.maps import T2Map
    from discT2.roi import DiscROIs
    from discT2.study import read_study
    from discT2.study.exam import MEASUREMENTS_CSV

    failed = 0
    for spec in read_study(manifest).exams:
        folder = out / spec.subject / spec.visit
        if not (folder / MEASUREMENTS_CSV).is_file():
            continue  # not measured: errors.csv says why
        target = args.dicom_out / spec.subject / spec.visit
        try:
            t2map = T2Map.load(folder)
            written = write_dicom_results(
                target,
                spec.dicom,
                t2map=t2map,
                rois=DiscROIs.load(folder),
                measurements=pd.read_csv(folder / MEASUREMENTS_CSV),
                series=spec.series or t2map.meta.get("series_instance_uid"),
                identity=args.dicom_identity,
                pseudonym=spec.subject,
            )
        except DiscT2Error as exc:
            failed += 1
            logger.error("%s %s: DICOM results not written: %s", spec.subject, spec.visit, exc)
            continue
        logger.info(
            "%s %s: wrote DICOM %s",
            spec.subject,
            spec.visit,
            ", ".join(p.name for p in written.values()),
        )
    return failed
