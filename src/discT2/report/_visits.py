"""Which visit is each subject's baseline, and how subjects sort."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

import pandas as pd

from discT2.errors import InputError

logger = logging.getLogger(__name__)

#: Months at or within this distance of 0 make a baseline visit.
_BASELINE_TOLERANCE_MONTHS = 1e-9


def baseline_visits(
    visits: pd.DataFrame,
    *,
    source: str,
    baseline: str | None = None,
    missing: str = "raise",
    notes: list[str] | None = None,
) -> dict[str, str]:
    """Map each subject to its baseline visit: the one visit with ``months == 0``, or ``baseline``.

    Parameters
    ----------
    visits : DataFrame
        Columns ``subject, visit, months`` (duplicates allowed).
    source : str
        Table name for messages.
    baseline : str, optional
        The visit name that is every subject's baseline, instead of the visit with months 0.
    missing : {'raise', 'skip'}
        What to do with a subject that has no baseline visit: raise, or leave it out (with a
        note) so that the other subjects still get their tables.
    notes : list of str, optional
        Collects a line for every subject left out.

    Raises
    ------
    InputError
        A subject with two baseline visits, or (``missing='raise'``) with none.
    """
    if missing not in ("raise", "skip"):
        raise InputError(f"missing_baseline must be 'raise' or 'skip', got {missing!r}")
    v = visits[["subject", "visit", "months"]].drop_duplicates()
    if baseline is None:
        is_base = (v["months"] - 0.0).abs() <= _BASELINE_TOLERANCE_MONTHS
        what = "months = 0"
    else:
        is_base = v["visit"] == str(baseline)
        what = f"visit {baseline}"
    base = v[is_base]
    twice = base.groupby("subject")["visit"].apply(lambda s: sorted(set(s)))
    twice = twice[twice.map(len) > 1]
    if len(twice):
        listed = "; ".join(f"{s}: {', '.join(vs)}" for s, vs in twice.items())
        raise InputError(
            f"{source}: more than one baseline visit (months = 0) for subject(s) {listed}; "
            "give each subject exactly one visit with months 0"
        )
    result = dict(zip(base["subject"], base["visit"], strict=True))
    lacking = sorted(set(v["subject"]) - set(result), key=natural_key)
    if lacking:
        message = (
            f"{source}: no baseline visit ({what}) for subject(s) {', '.join(lacking)}; "
            "changes are relative to baseline"
        )
        if missing == "raise":
            raise InputError(message + " (add the baseline exam, or fix its 'months')")
        logger.info("%s; left out", message)
        if notes is not None:
            notes.append(message + "; these subjects are left out.")
    return result


def natural_key(text: str) -> tuple:
    """Sort key that orders ``S2`` before ``S10`` (digit runs compare as numbers)."""
    parts = re.split(r"(\d+)", str(text))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p != "")


def rank_map(values: Iterable[str]) -> dict[str, int]:
    """Position of each distinct value in natural order."""
    return {v: i for i, v in enumerate(sorted(set(values), key=natural_key))}
