"""Disc level names, ROI names and the label numbers of ``rois.nii.gz``.

A disc is named after the two vertebrae it joins, upper first: ``T12-L1`` ... ``L5-S1``. The label
of ROI ``k`` (1..5, anterior to posterior) of the disc whose upper vertebra has lumbar position
``n`` (T12 -> 0, L1 -> 1, ..., L5 -> 5) is ``10 * n + k``: ``41`` is the anterior annulus of L4-L5.
"""

from __future__ import annotations

import re

from discT2.errors import RoiError

__all__ = [
    "DERIVED_ROIS",
    "LEVELS",
    "ROI_NAMES",
    "label_value",
    "level_index",
    "normalise_level",
    "parse_label",
]

#: Lumbar disc levels from top to bottom.
LEVELS: tuple[str, ...] = ("T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1")

#: The five ROIs of a disc, anterior to posterior (ROI k is ``ROI_NAMES[k - 1]``).
ROI_NAMES: tuple[str, ...] = (
    "AF_anterior",
    "NP_anterior",
    "NP_central",
    "NP_posterior",
    "AF_posterior",
)

#: Derived ROIs and the ROI numbers (1..5) they pool, voxel-weighted.
DERIVED_ROIS: dict[str, tuple[int, ...]] = {
    "NP": (2, 3, 4),
    "AF": (1, 5),
    "disc": (1, 2, 3, 4, 5),
}

_VERTEBRA = re.compile(r"^\s*([TLS])\s*(\d{1,2})\s*[-/_ ]?\s*([TLS]?)\s*(\d{1,2})\s*$", re.I)


def normalise_level(name: str, *, where: str = "") -> str:
    """Return the canonical level name for common spellings (``L4/L5``, ``l4-5``, ``L4L5``).

    Parameters
    ----------
    name : str
        A level name.
    where : str
        Where the name came from (a file, a disc), for the error message.

    Raises
    ------
    RoiError
        The name is not one of :data:`LEVELS` in any spelling.

    Examples
    --------
    >>> normalise_level("L4/5"), normalise_level("l5-s1"), normalise_level("T12/L1")
    ('L4-L5', 'L5-S1', 'T12-L1')
    """
    match = _VERTEBRA.match(str(name))
    if match:
        region1, num1, region2, num2 = match.groups()
        region1 = region1.upper()
        region2 = (region2 or region1).upper()
        candidate = f"{region1}{int(num1)}-{region2}{int(num2)}"
        if candidate in LEVELS:
            return candidate
    prefix = f"{where}: " if where else ""
    raise RoiError(
        f"{prefix}unknown disc level {name!r}; expected one of {', '.join(LEVELS)} "
        "(spellings such as 'L4/L5' or 'L4-5' are accepted)"
    )


def level_index(level: str) -> int:
    """Lumbar position n of the upper vertebra (T12-L1 -> 0, ..., L5-S1 -> 5)."""
    return LEVELS.index(normalise_level(level))


def label_value(level: str, roi: int | str) -> int:
    """Label of one disc ROI in ``rois.nii.gz``: ``10 * level_index + k``.

    Parameters
    ----------
    level : str
        Disc level.
    roi : int or str
        ROI number k (1..5, anterior to posterior) or its name in :data:`ROI_NAMES`.

    Examples
    --------
    >>> label_value("L4-L5", "AF_anterior"), label_value("T12-L1", 5)
    (41, 5)
    """
    k = ROI_NAMES.index(roi) + 1 if isinstance(roi, str) else int(roi)
    if not 1 <= k <= len(ROI_NAMES):
        raise RoiError(f"ROI number must be 1..{len(ROI_NAMES)}; got {roi!r}")
    return 10 * level_index(level) + k


def parse_label(value: int) -> tuple[str, str]:
    """Level and ROI name of a label value (inverse of :func:`label_value`).

    Parameters
    ----------
    value : int
        A label of ``rois.nii.gz`` (``10 n + k``).

    Examples
    --------
    >>> parse_label(41)
    ('L4-L5', 'AF_anterior')
    """
    n, k = divmod(int(value), 10)
    if not (0 <= n < len(LEVELS) and 1 <= k <= len(ROI_NAMES)):
        raise RoiError(f"{value} is not a disc ROI label (10 * level + ROI, ROI 1..5)")
    return LEVELS[n], ROI_NAMES[k - 1]
