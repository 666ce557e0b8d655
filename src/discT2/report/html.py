"""One self-contained HTML report: what was measured, per-subject changes, flags, errors, and
(only after unblinding) the trial tables.

Everything is inside the one file: figures as base64 PNG, tables as HTML, a few lines of CSS; no
script, font or style sheet is fetched from anywhere. Subjects appear by their study code only.
A blinded report (no allocation given) has no allocation column, figure or wording anywhere.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html as _html
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from discT2._version import __version__
from discT2.errors import InputError
from discT2.report._names import CATEGORIES, level_rank, roi_rank
from discT2.report._visits import natural_key
from discT2.report.changes import pooled_outside_parts
from discT2.report.io import check_arms, check_changes, check_errors, check_measurements
from discT2.report.trial import ENDPOINTS, trial_table

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["MapFigure", "render_report", "write_report"]

logger = logging.getLogger(__name__)


class MapFigure(NamedTuple):
    """A T2-map figure for the report, shown in its subject's section.

    Attributes
    ----------
    subject : str
        Subject code; the figure goes into that subject's section.
    caption : str
        Text under the figure.
    figure : matplotlib.figure.Figure or bytes
        The figure, or its PNG bytes.
    """

    subject: str
    caption: str
    figure: Figure | bytes  #: a matplotlib Figure or PNG bytes


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;
margin-top:2em}h3{margin-top:1.6em}.meta{color:#666;font-size:.9em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th{background:#f3f3f3}td.t,th.t{text-align:left}
tr.idx td{font-weight:600}.regeneration{color:#1b7837}.degeneration{color:#b2182b}
.flag{color:#b35806;font-weight:600}figure{display:inline-block;margin:.4em 1em .4em 0;
vertical-align:top}figcaption{font-size:.8em;color:#555;max-width:420px}
img{max-width:100%}.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.4em .8em}
details{margin:.4em 0 1em}summary{cursor:pointer;color:#335}
dl.settings{display:grid;grid-template-columns:max-content auto;gap:.2em 1.2em}
dl.settings dt{font-weight:600}dl.settings dd{margin:0}
.banner{font-size:1.15em;font-weight:700;padding:.6em 1em;margin:.6em 0 1em;border-radius:4px;
color:#fff}.banner.blinded{background:#1f5f8b}.banner.unblinded{background:#b2182b}
table.pub td:nth-child(n+2){white-space:nowrap}table.pub td.p{font-weight:600}
td.grp{text-align:left;vertical-align:top;font-weight:600;background:#fafafa}
sup.mark{color:#b35806;font-weight:700;cursor:help}
"""

# Human column headers; the machine name stays in the header's title attribute.
_HEADERS: dict[str, str] = {
    "subject": "subject",
    "level": "disc",
    "role": "role",
    "roi": "ROI",
    "visit": "visit",
    "months": "months",
    "baseline_t2_ms": "baseline T2 (ms)",
    "t2_ms": "T2 (ms)",
    "pct_of_baseline": "% of baseline",
    "change_pct": "change (%)",
    "category": "category",
    "control_change_pct": "controls' change (%)",
    "treated_minus_control_pct": "treated − controls (points)",
    "ratio_change_pct": "ratio to controls, change (%)",
    "control_levels": "control discs",
    "protocol_flags": "protocol flags",
    "protocol_details": "details",
    "endpoint": "endpoint",
    "arm": "arm",
    "n": "n",
    "n_missing": "missing",
    "mean_pct": "mean",
    "sd_pct": "SD",
    "median_pct": "median",
    "compared_with": "vs",
    "diff_mean_pct": "difference",
    "diff_ci_low_pct": "95% CI low",
    "diff_ci_high_pct": "95% CI high",
    "welch_p": "Welch t p",
    "mannwhitney_p": "Mann–Whitney p",
    "category_test": "category test",
    "category_p": "category p",
    "height_mean_mm": "disc height (mm)",
    "vertebral_height_mm": "vertebral bodies (mm)",
    "dhi": "DHI",
    "dhi_change_pct": "DHI change (%)",
    "pfirrmann": "Pfirrmann",
    "pfirrmann_modified": "modified Pfirrmann",
    "reader": "graded by",
    "graded_on": "graded on",
    "stage": "stage",
    "error": "error",
}


def _fmt(value: object, kind: str) -> str:
    if value is None or value is pd.NA:
        return ""
    if kind == "text":
        return str(value)
    x = float(value)
    if not np.isfinite(x):
        return ""
    if kind == "int":
        return f"{x:.0f}"
    if kind == "p":
        return "<0.001" if x < 0.001 else f"{x:.3f}"
    if kind == "months":
        return f"{x:g}"
    if kind == "ratio":
        return f"{x:.3f}"
    return f"{x:.1f}"


def _kind(column: str) -> str:
    if column in ("n", "n_missing", "pfirrmann", "pfirrmann_modified") or column.startswith("n_"):
        return "int"
    if column == "dhi":
        return "ratio"
    if column.endswith("_mm"):
        return "num"
    if column.endswith("_p"):
        return "p"
    if column == "months":
        return "months"
    if column.endswith(("_ms", "_pct")) or column.startswith("pct_"):
        return "num"
    if column in ("welch_t", "welch_df"):
        return "num"
    return "text"


def _table(
    df: pd.DataFrame,
    columns: Sequence[str],
    *,
    highlight_index: bool = False,
    cell_notes: dict[tuple[object, str], str] | None = None,
) -> str:
    """An HTML table of the given columns, escaped, numbers formatted for reading.

    ``cell_notes`` maps ``(row index, column)`` to a note shown as a mark in that cell (and as
    its tooltip); the caller explains the mark under the table.
    """
    cell_notes = cell_notes or {}
    head = "".join(
        f'<th class="{"t" if _kind(c) == "text" else ""}" title="{_html.escape(c)}">'
        f"{_html.escape(_HEADERS.get(c, c.replace('_', ' ')))}</th>"
        for c in columns
    )
    body = []
    for label, row in df.iterrows():
        cells = []
        for c in columns:
            kind = _kind(c)
            text = _html.escape(_fmt(row[c], kind))
            note = cell_notes.get((label, c))
            if note:
                text += f'<sup class="mark" title="{_html.escape(note)}">†</sup>'

            cls = ["t"] if kind == "text" else []
            if c == "category" and row[c] in CATEGORIES:
                cls.append(str(row[c]).replace(" ", "-"))
            if c == "protocol_flags" and row[c]:
                cls.append("flag")
            cells.append(f'<td class="{" ".join(cls)}">{text}</td>')
        attr = ' class="idx"' if highlight_index and row.get("role") == "index" else ""
        body.append(f"<tr{attr}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(fig: Figure | bytes, alt: str, caption: str = "") -> str:
    from discT2.report.figures import figure_to_png

    png = fig if isinstance(fig, bytes) else figure_to_png(fig)
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{_html.escape(caption)}</figcaption>" if caption else ""
    return (
        f'<figure><img alt="{_html.escape(alt)}" src="data:image/png;base64,{data}">{cap}</figure>'
    )


def render_report(
    changes: pd.DataFrame,
    *,
    measurements: pd.DataFrame | None = None,
    arms: pd.DataFrame | None = None,
    trial: pd.DataFrame | None = None,
    errors: pd.DataFrame | None = None,
    drift: pd.DataFrame | None = None,
    map_figures: Sequence[MapFigure] = (),
    notes: Sequence[str] = (),
    tau_pct: float | None = None,
    rounding_pct: float | None = 0.1,
    statistic: str = "mean",
    endpoints: Sequence[str] = ("change_pct", "treated_minus_control_pct"),
    trajectory_rois: Sequence[str] = ("NP", "AF", "disc"),
    box_rois: Sequence[str] = ("NP", "disc"),
    title: str = "Disc T2 change report",
    generated: str | None = None,
    primary_endpoint: str | None = None,
    primary_roi: str | None = None,
    structural: pd.DataFrame | None = None,
) -> str:
    """Build the HTML report as a string (:func:`write_report` writes it to a file).

    Parameters
    ----------
    changes : DataFrame
        The change table (:func:`~discT2.report.change_table`); its ``attrs["notes"]`` are
        listed.
    measurements : DataFrame, optional
        The measurements (fit methods and exam counts are taken from it).
    arms : DataFrame, optional
        The allocation ``subject, arm``. Given: the report is unblinded, with the trial tables
        (computed here unless ``trial`` is given) and per-arm box plots. Absent (and no
        ``trial``): a blinded report, with no allocation column, figure or word.
    trial : DataFrame, optional
        A trial table (:func:`~discT2.report.trial_table`) to show.
    errors : DataFrame, optional
        ``errors.csv``: exams that could not be processed.
    drift : DataFrame, optional
        :func:`~discT2.report.protocol_drift` output, for the drift details (the flags alone
        come from the change table).
    map_figures : sequence of MapFigure
        T2 maps with ROI outlines, shown per subject.
    notes : sequence of str
        Extra lines for the flags section.
    tau_pct, rounding_pct, statistic, endpoints : optional
        Settings the report states (tau defaults to the change table's ``tau_pct``).
    trajectory_rois, box_rois : sequence of str
        ROIs drawn in the trajectory and box-plot figures (empty: no such figures).
    title, generated : str, optional
        Page title (``BLINDED`` or ``UNBLINDED`` is appended) and the time stamp printed
        (default now).
    primary_endpoint, primary_roi : str, optional
        The endpoint and ROI of the compact primary-endpoint table that opens the trial
        tables (default: the first endpoint, and NP; see :func:`~discT2.report.primary_table`).
    structural : DataFrame, optional
        :func:`~discT2.report.structural.structural_table`: disc height index and reader grades
        per visit, shown for the treated discs (per arm too when unblinded).

    Returns
    -------
    str
        One self-contained HTML page (figures as base64 PNG, inline CSS, nothing fetched).
    """
    c = check_changes(changes)
    if tau_pct is None:
        taus = sorted(set(c["tau_pct"].dropna()))
        tau_pct = taus[0] if len(taus) == 1 else 0.0
    blinded = arms is None and trial is None
    if arms is not None:
        arms = check_arms(arms)
        if trial is None:
            trial = trial_table(
                c, arms, tau_pct=tau_pct, rounding_pct=rounding_pct, endpoint=endpoints
            )
    errors_df = check_errors(errors) if errors is not None else None
    if measurements is not None:
        measurements = check_measurements(measurements, statistic=statistic)
    notes = list(notes) + list(getattr(changes, "attrs", {}).get("notes", []))
    outside = pooled_outside_parts(c)
    if len(outside):
        notes.append(
            f"{len(outside)} whole-disc change(s) lie outside the range of their own nucleus and "
            "annulus changes (marked † in the subjects' tables): the disc pools voxels, and the "
            "share of nucleus voxels differs between the visits."
        )
    generated = generated or _dt.datetime.now().isoformat(timespec="minutes")
    title = f"{title} — {'BLINDED' if blinded else 'UNBLINDED'}"
    banner = (
        '<p class="banner blinded">BLINDED — no treatment allocation is shown in this report.</p>'
        if blinded
        else '<p class="banner unblinded">UNBLINDED — this report shows the treatment '
        "allocation. Keep it from blinded readers.</p>"
    )

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_html.escape(title)}</h1>",
        banner,
        f'<p class="meta">Made by discT2 {_html.escape(__version__)} on '
        f"{_html.escape(generated)}. Subjects appear by study code only.",
        " Blinded: no treatment allocation is shown.</p>"
        if blinded
        else " <strong>Unblinded:</strong> this report shows the treatment allocation.</p>",
        _nav(blinded, errors_df),
        _method_section(c, measurements, tau_pct, rounding_pct, statistic, blinded, endpoints),
        _summary_section(c, measurements, errors_df, arms),
        _flags_section(c, drift, notes),
    ]
    if not blinded:
        parts.append(
            _trial_section(c, arms, trial, endpoints, box_rois, primary_endpoint, primary_roi)
        )
    if structural is not None and len(structural):
        parts.append(_structural_section(structural, arms))
    parts.append(_subjects_section(c, map_figures, trajectory_rois, tau_pct))
    parts.append(_errors_section(errors_df))
    parts.append(_references())
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    path: str | os.PathLike,
    changes: pd.DataFrame,
    **options: object,
) -> Path:
    """Write the self-contained HTML report.

    Parameters
    ----------
    path : path-like
        Destination (``report_BLINDED.html`` or ``report_UNBLINDED.html``); written under a
        temporary name, then renamed.
    changes : DataFrame
        The change table (:func:`~discT2.report.change_table`); its ``attrs["notes"]`` are
        listed.
    **options
        The keywords of :func:`~discT2.report.render_report` (``measurements``, ``arms``,
        ``trial``, ``errors``, ``drift``, ``map_figures``, ``notes``, ``tau_pct``,
        ``rounding_pct``, ``statistic``, ``endpoints``, ``trajectory_rois``, ``box_rois``,
        ``title``, ``generated``, ``primary_endpoint``, ``primary_roi``, ``structural``),
        documented there.
        Without ``arms`` and ``trial`` the report is blinded: no allocation column, figure or
        word.

    Returns
    -------
    Path
        The file written.
    """
    text = render_report(changes, **options)  # type: ignore[arg-type]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    logger.info("wrote %s", path)
    return path


def _nav(blinded: bool, errors: pd.DataFrame | None) -> str:
    links = [("method", "What was measured"), ("summary", "Summary"), ("flags", "Flags")]
    if not blinded:
        links.append(("trial", "Trial tables"))
    links += [("subjects", "Subjects"), ("errors", "Errors"), ("references", "References")]
    return "<p>" + " · ".join(f'<a href="#{a}">{_html.escape(t)}</a>' for a, t in links) + "</p>"


def _method_section(c, measurements, tau_pct, rounding_pct, statistic, blinded, endpoints) -> str:
    methods = (
        sorted(set(measurements["method"]) - {""})
        if measurements is not None and ("method" in measurements.columns)
        else []
    )
    methods = [str(m) for m in methods]
    rounding = f"{rounding_pct:g} %" if rounding_pct else "none"
    items = [
        ("T2 per ROI", f"{statistic} of the fitted voxels (ms)"),
        ("T2 fit method", ", ".join(methods) or "not stated"),
        ("Change", "T2 at the visit as % of the same disc and ROI at baseline, minus 100"),
        (
            "Categories",
            f"regeneration: change > +{tau_pct:g} %; degeneration: change < "
            f"−{tau_pct:g} %; no evolution otherwise (changes rounded to {rounding} first)",
        ),
        ("Threshold tau", f"{tau_pct:g} %"),
    ]
    if not blinded:
        items.append(("Trial endpoints", "; ".join(ENDPOINTS[e] for e in endpoints)))
    dl = "".join(f"<dt>{_html.escape(k)}</dt><dd>{_html.escape(v)}</dd>" for k, v in items)
    tau_note = (
        '<p class="note">With tau = 0 any change counts, also one far below measurement noise: '
        "the smallest change detectable in one disc is about 12–28 % for a single-slice nucleus "
        "ROI and 5–9 % for the whole disc (2.77 × the test–retest coefficient of variation, "
        "Owen et al. 2021). Read the categories with that in mind.</p>"
        if tau_pct < 5
        else ""
    )
    return f"""<section id="method"><h2>What was measured</h2>
<p>Each disc was measured on a quantitative T2 map fitted from a multi-echo spin-echo series.
T2 (ms) reflects the water content of the disc: it falls as a disc degenerates. Every disc is
divided from front to back into five regions of equal width between its endplates: the anterior
annulus (<i>AF_anterior</i>), three nucleus regions (<i>NP_anterior, NP_central,
NP_posterior</i>) and the posterior annulus (<i>AF_posterior</i>). <i>NP</i>, <i>AF</i> and
<i>disc</i> pool the nucleus regions, the two annulus regions and all five (each from its own
voxels, not by averaging percentages). The treated (index) disc of each subject is compared
with its control discs: the difference of their changes and the change of the ratio of their
T2.</p>
<dl class="settings">{dl}</dl>{tau_note}</section>"""


def _summary_section(c, measurements, errors, arms) -> str:
    subjects = sorted(set(c["subject"]), key=natural_key)
    followups = c[["subject", "visit"]].drop_duplicates()
    lines = [
        f"<li>{len(subjects)} subjects with a follow-up, {len(followups)} follow-up exams with "
        "changes</li>"
    ]
    if measurements is not None:
        exams = measurements[["subject", "visit"]].drop_duplicates()
        lines.append(f"<li>{len(exams)} exams measured (baseline included)</li>")
    flagged = c.loc[c["protocol_flags"] != "", ["subject", "visit"]].drop_duplicates()
    lines.append(f"<li>{len(flagged)} follow-up exams with a protocol flag</li>")
    lines.append(f"<li>{0 if errors is None else len(errors)} exams could not be processed</li>")
    if arms is not None:
        counts = arms.groupby("arm")["subject"].nunique()
        listed = ", ".join(f"{_html.escape(str(a))}: {n}" for a, n in counts.items())
        lines.append(f"<li>Allocation: {listed}</li>")
    body = f"<ul>{''.join(lines)}</ul>"
    idx = c[(c["role"] == "index") & (c["roi"] == "NP")]
    if len(idx):
        rows = []
        for (visit, months), g in idx.groupby(["visit", "months"], sort=False):
            counts = {k: int((g["category"] == k).sum()) for k in CATEGORIES}
            rows.append(
                {
                    "visit": visit,
                    "months": months,
                    "n": int(g["change_pct"].notna().sum()),
                    **{f"n_{k.replace(' ', '_')}": v for k, v in counts.items()},
                }
            )
        table = pd.DataFrame(rows).sort_values("months")
        cols = ["visit", "months", "n", "n_regeneration", "n_no_evolution", "n_degeneration"]
        body += "<p>Treated discs, nucleus (NP), by category:</p>" + _table(table, cols)
    return f'<section id="summary"><h2>Summary</h2>{body}</section>'


def _flags_section(c, drift, notes) -> str:
    if drift is not None and len(drift):
        flagged = drift[drift["protocol_flags"] != ""]
        cols = ["subject", "visit", "months", "protocol_flags", "protocol_details"]
    else:
        flagged = c.loc[c["protocol_flags"] != "", ["subject", "visit", "months", "protocol_flags"]]
        flagged = flagged.drop_duplicates()
        cols = ["subject", "visit", "months", "protocol_flags"]
    drift_html = (
        "<p>Follow-up exams acquired or fitted differently from the baseline exam (vendor, field "
        "strength, echo times, TR, slice thickness, fit method, time of day); their changes "
        "mix biology with protocol:</p>" + _table(flagged, cols)
        if len(flagged)
        else "<p>No protocol drift between baseline and follow-up exams was found.</p>"
    )
    notes_html = (
        "<p>Notes:</p><ul>" + "".join(f"<li>{_html.escape(n)}</li>" for n in notes) + "</ul>"
        if notes
        else ""
    )
    return f'<section id="flags"><h2>Flags and notes</h2>{drift_html}{notes_html}</section>'


def _trial_section(c, arms, trial, endpoints, box_rois, primary_endpoint, primary_roi) -> str:
    from discT2.report.figures import plot_arm_boxes
    from discT2.report.published import ENDPOINT_LABELS, primary_table, published_table

    parts = ['<section id="trial"><h2>Trial tables (unblinded)</h2>']
    if trial is None or not len(trial):
        parts.append("<p>No trial table.</p></section>")
        return "".join(parts)
    parts.append(
        "<p>Treated disc of each subject, per follow-up visit: one column per arm (n allocated "
        "in the header), subjects per category as n (%), the change as mean ± SD and median "
        "[IQR], and the comparison of the arms: the difference of the means with its 95% "
        "confidence interval and Welch's t-test, the Mann–Whitney U test on the median row, and "
        "on the first category row the chi-square test of the categories, or Fisher's exact "
        "test for a 2×2 table or when an expected count is below 5. p-values are two-sided and "
        "not adjusted for the many ROIs and visits: read the pre-specified endpoint first. The "
        "same tables are in trial_endpoints.csv and trial_endpoints.xlsx; every statistic, "
        "unrounded, in trial_table.csv.</p>"
    )
    primary = primary_table(trial, endpoint=primary_endpoint, roi=primary_roi)
    ep, roi = primary["endpoint"].iloc[0], primary["roi"].iloc[0]
    parts.append(
        f"<h3>Primary endpoint: {_html.escape(ENDPOINT_LABELS.get(ep, (ep, ''))[0])}, "
        f"{_html.escape(roi)}</h3>"
    )
    parts.append(_published_html(primary, "visit"))
    for ep in [e for e in ENDPOINTS if e in set(trial["endpoint"])]:
        table = published_table(trial, endpoints=[ep])
        parts.append(f"<h3>{_html.escape(ENDPOINTS[ep])}</h3>")
        for visit in dict.fromkeys(table["visit"]):
            at_visit = table[table["visit"] == visit]
            months = at_visit["months"].iloc[0]
            parts.append(f"<h4>{_html.escape(str(visit))} ({_html.escape(months)} months)</h4>")
            parts.append(_published_html(at_visit, "roi"))
        if arms is not None:
            for roi in box_rois:
                if (c["roi"] == roi).any():
                    parts.append(
                        _img(plot_arm_boxes(c, arms, roi=roi, endpoint=ep), f"{roi} {ep} per arm")
                    )
    parts.append("</section>")
    return "".join(parts)


def _published_html(table: pd.DataFrame, group: str) -> str:
    """A published-layout table: the ``group`` column spans its rows, then measure, arms, tests."""
    from discT2.report.published import PUBLISHED_KEYS

    shown = [col for col in table.columns if col not in PUBLISHED_KEYS]
    head = (
        f'<th class="t">{_html.escape(group if group != "roi" else "ROI")}</th><th class="t"></th>'
        + "".join(f"<th>{_html.escape(col)}</th>" for col in shown)
    )
    body = []
    for value, rows in table.groupby(group, sort=False):
        for i, (_, row) in enumerate(rows.iterrows()):
            cells = (
                f'<td class="grp" rowspan="{len(rows)}">{_html.escape(str(value))}</td>'
                if i == 0
                else ""
            )
            cells += f'<td class="t">{_html.escape(str(row["measure"]))}</td>'
            for col in shown:
                cls = ' class="p"' if col.startswith("p (") and row[col] else ""
                cls = ' class="t"' if col.startswith("test (") else cls
                cells += f"<td{cls}>{_html.escape(str(row[col]))}</td>"
            body.append(f"<tr>{cells}</tr>")
    return (
        f'<table class="pub"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


def _structural_section(structural: pd.DataFrame, arms: pd.DataFrame | None) -> str:
    index = structural[structural["role"] == "index"]
    shown = index if len(index) else structural
    cols = [
        "subject",
        "visit",
        "months",
        "level",
        "height_mean_mm",
        "vertebral_height_mm",
        "dhi",
        "dhi_change_pct",
        "pfirrmann",
        "pfirrmann_modified",
        "reader",
        "graded_on",
    ]
    parts = [
        '<section id="structural"><h2>Structural endpoints</h2>',
        "<p>Disc height index (DHI) = mean disc height / mean height of the adjacent vertebral "
        "bodies, each measured anteriorly, in the middle and posteriorly on the mid-sagittal "
        "slice; the bodies from the reader's vertebral corners or, without them, between the "
        "neighbouring discs' corners (L5-S1: L5 only). Change = DHI as % of baseline − 100. "
        "Pfirrmann (1–5) and modified Pfirrmann (1–8, Griffith 2007) grades with their reader "
        "and date. Treated discs" + ("" if len(index) else " (none marked: every disc)") + ":</p>",
        _table(shown, cols),
    ]
    if arms is not None and len(index):
        merged = index.merge(arms, on="subject", how="inner")
        rows = []
        for (visit, months, arm), g in merged.groupby(["visit", "months", "arm"], sort=False):
            change = g["dhi_change_pct"].dropna()
            grades = g["pfirrmann"].dropna().astype(float)
            modified = g["pfirrmann_modified"].dropna().astype(float)
            rows.append(
                {
                    "visit": visit,
                    "months": months,
                    "arm": arm,
                    "n": int(g["dhi"].notna().sum()),
                    "DHI, mean ± SD": f"{g['dhi'].mean():.3f} ± {g['dhi'].std(ddof=1):.3f}"
                    if g["dhi"].notna().sum() > 1
                    else "",
                    "dhi change (%)": f"{change.mean():.1f} ± {change.std(ddof=1):.1f}"
                    if len(change) > 1
                    else "",
                    "Pfirrmann": _median_iqr(grades),
                    "modified Pfirrmann": _median_iqr(modified),
                }
            )
        summary = pd.DataFrame(rows).sort_values(["months", "arm"])
        parts.append(
            "<p>Per arm (mean ± SD; grades as median [IQR]):</p>"
            + _table(summary, list(summary.columns))
        )
    parts.append("</section>")
    return "".join(parts)


def _median_iqr(values: pd.Series) -> str:
    if not len(values):
        return ""
    q1, med, q3 = np.percentile(values.to_numpy(float), [25, 50, 75])
    return f"{med:g} [{q1:g}; {q3:g}]"


def _subjects_section(c, map_figures, trajectory_rois, tau_pct) -> str:
    from discT2.report.figures import plot_trajectories

    parts = ['<section id="subjects"><h2>Subjects</h2>']
    figures_of: dict[str, list[MapFigure]] = {}
    for mf in map_figures:
        figures_of.setdefault(str(mf.subject), []).append(mf)
    cols_index = [
        "visit",
        "months",
        "roi",
        "baseline_t2_ms",
        "t2_ms",
        "change_pct",
        "category",
        "control_levels",
        "control_change_pct",
        "treated_minus_control_pct",
        "ratio_change_pct",
    ]
    cols_all = [
        "visit",
        "months",
        "level",
        "role",
        "roi",
        "baseline_t2_ms",
        "t2_ms",
        "pct_of_baseline",
        "change_pct",
        "category",
        "protocol_flags",
    ]
    outside = pooled_outside_parts(c)
    pooled_notes = {(r.subject, r.level, r.visit): r.note for r in outside.itertuples(index=False)}
    subjects = sorted(set(c["subject"]) | set(figures_of), key=natural_key)
    for subject in subjects:
        sub = c[c["subject"] == subject]
        parts.append(
            f'<h3 id="subject-{_html.escape(subject)}">Subject {_html.escape(subject)}</h3>'
        )
        idx = sub[sub["role"] == "index"]
        if len(idx):
            idx = idx.assign(_r=idx["roi"].map(roi_rank)).sort_values(["months", "_r"])
            parts.append(
                "<p>Treated disc "
                + _html.escape(", ".join(sorted(set(idx["level"]))))
                + " against its controls:</p>"
                + _table(idx, cols_index, cell_notes=_cell_notes(idx, pooled_notes))
                + _marks_explained(idx, pooled_notes)
            )
        if len(sub):
            ordered = sub.assign(_l=sub["level"].map(level_rank), _r=sub["roi"].map(roi_rank))
            ordered = ordered.sort_values(["months", "_l", "level", "_r"])
            parts.append(
                "<details><summary>All discs and ROIs</summary>"
                + _table(
                    ordered,
                    cols_all,
                    highlight_index=True,
                    cell_notes=_cell_notes(ordered, pooled_notes),
                )
                + _marks_explained(ordered, pooled_notes)
                + "</details>"
            )
            fig = None
            if trajectory_rois:
                try:
                    fig = plot_trajectories(c, subject, rois=trajectory_rois, tau_pct=tau_pct)
                except InputError:  # none of these ROIs measured: no figure, the table says it
                    fig = None
            if fig is not None:
                parts.append(
                    _img(
                        fig,
                        f"T2 trajectories of subject {subject}",
                        "T2 as % of baseline; thick line: treated disc, dashed: controls.",
                    )
                )
        for mf in figures_of.get(subject, []):
            parts.append(_img(mf.figure, mf.caption, mf.caption))
    if not subjects:
        parts.append("<p>No subject has a follow-up with changes.</p>")
    parts.append("</section>")
    return "".join(parts)


def _cell_notes(rows: pd.DataFrame, pooled_notes: dict) -> dict[tuple[object, str], str]:
    """Notes on the change cells of pooled-disc rows whose change lies outside their parts'."""
    notes = {}
    for label, row in rows[rows["roi"] == "disc"].iterrows():
        note = pooled_notes.get((row["subject"], row["level"], row["visit"]))
        if note:
            notes[(label, "change_pct")] = note
    return notes


def _marks_explained(rows: pd.DataFrame, pooled_notes: dict) -> str:
    marked = [
        f"{row['level']} {row['visit']}: {pooled_notes[key]}."
        for _, row in rows[rows["roi"] == "disc"].drop_duplicates(["level", "visit"]).iterrows()
        if (key := (row["subject"], row["level"], row["visit"])) in pooled_notes
    ]
    if not marked:
        return ""
    return '<p class="note">† ' + "<br>† ".join(_html.escape(m) for m in marked) + "</p>"


def _errors_section(errors: pd.DataFrame | None) -> str:
    if errors is None or not len(errors):
        body = "<p>None: every exam listed was processed.</p>"
    else:
        body = (
            "<p>These exams could not be processed; their subjects' changes at those visits "
            "are missing:</p>" + _table(errors, ["subject", "visit", "stage", "error"])
        )
    return f'<section id="errors"><h2>Exams that could not be processed</h2>{body}</section>'


def _references() -> str:
    refs = [
        "Zhu T et al. Segmental quantitative MR imaging analysis of diurnal variation of water "
        "content in the lumbar intervertebral discs. Korean J Radiol 2015;16(1):139–145.",
        "Owen PJ et al. Quantitative assessment of the lumbar intervertebral disc via T2 shows "
        "excellent long-term reliability. PLoS One 2021;16(4).",
        "Welch BL. The generalization of 'Student's' problem when several different population "
        "variances are involved. Biometrika 1947;34:28–35.",
        "Freeman GH, Halton JH. Note on an exact treatment of contingency, goodness of fit and "
        "other problems of significance. Biometrika 1951;38:141–149.",
        "Pfirrmann CWA et al. Magnetic resonance classification of lumbar intervertebral disc "
        "degeneration. Spine 2001;26(17):1873–1878.",
        "Griffith JF et al. Modified Pfirrmann grading system for lumbar intervertebral disc "
        "degeneration. Spine 2007;32(24):E708–E712.",
        "Crameri F, Shephard GE, Heron PJ. The misuse of colour in science communication. Nat "
        "Commun 2020;11:5444 (colour map 'navia').",
    ]
    items = "".join(f"<li>{_html.escape(r)}</li>" for r in refs)
    return f'<section id="references"><h2>References</h2><ol>{items}</ol></section>'
