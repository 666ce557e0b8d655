"""Fit widget: T2 maps of an exam's echo images with :func:`discT2.fit_t2`, in a thread worker."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    ProgressBar,
    PushButton,
)

from discT2 import FIT_METHODS, EPGOptions, T2Map, fit_t2
from discT2.fit import DEFAULT_METHOD
from napari_disct2._display import show_scales
from napari_disct2._exam import Exam, exams_in, layers_of
from napari_disct2._work import Jobs

if TYPE_CHECKING:
    import napari

__all__ = ["FitWidget"]


class FitWidget(Container):
    """Fit T2 to the echo images of an exam; adds T2 (navia, ms), S0 and T2 SD layers.

    The options are :class:`discT2.T2Model`'s, with its defaults; the library checks them.
    """

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__(labels=True)
        self.viewer = napari_viewer
        show_scales(napari_viewer)  # scale bar and T2 colour bar on, as in `make napari`
        self.jobs = Jobs(on_error=self._failed)
        self.last_map: T2Map | None = None
        self.exam_choice = ComboBox(label="exam", choices=self._exam_choices)
        epg_defaults = EPGOptions()
        self.method = ComboBox(label="method", choices=list(FIT_METHODS), value=DEFAULT_METHOD)
        self.skip_first_echo = CheckBox(text="skip first echo", value=False)
        self.max_te_ms = FloatSpinBox(label="max TE (ms; 0 = all)", value=0.0, min=0.0, max=1e5)
        self.mask = ComboBox(label="mask", choices=["auto", "none"], value="auto")
        self.t2_low_ms = FloatSpinBox(label="T2 low bound (ms)", value=1.0, min=0.0, max=1e5)
        self.t2_high_ms = FloatSpinBox(label="T2 high bound (ms)", value=5000.0, min=0.0, max=1e6)
        self.min_r2 = FloatSpinBox(label="min R²", value=0.9, min=0.0, max=1.0, step=0.01)
        self.refocusing_deg = FloatSpinBox(
            label="epg: refocusing (deg; 0 = series)", value=0.0, min=0.0, max=180.0
        )
        self.slice_profile = ComboBox(
            label="epg: slice profile",
            choices=["auto", "none", "sinc"],
            value=str(epg_defaults.slice_profile),
        )
        self.b1 = ComboBox(label="epg: B1", choices=["smooth", "voxel"], value=str(epg_defaults.b1))
        self.run_button = PushButton(text="Fit T2")
        self.progress = ProgressBar(label="progress", value=0, min=0, max=1)
        self.status = Label(label="", value="")
        self.extend(
            [
                self.exam_choice,
                self.method,
                self.skip_first_echo,
                self.max_te_ms,
                self.mask,
                self.t2_low_ms,
                self.t2_high_ms,
                self.min_r2,
                self.refocusing_deg,
                self.slice_profile,
                self.b1,
                self.run_button,
                self.progress,
                self.status,
            ]
        )
        self.run_button.changed.connect(self.run)
        self.viewer.layers.events.inserted.connect(self.reset_choices)
        self.viewer.layers.events.removed.connect(self.reset_choices)

    def _exam_choices(self, _widget: Any = None) -> list[tuple[str, Exam]]:
        return [(e.name, e) for e in exams_in(self.viewer) if e.series is not None]

    @property
    def busy(self) -> bool:
        """True while a fit runs."""
        return self.jobs.busy

    def options(self) -> dict[str, Any]:
        """Keyword options of :func:`discT2.fit_t2` from the form."""
        opts: dict[str, Any] = {
            "skip_first_echo": bool(self.skip_first_echo.value),
            "t2_bounds_ms": (float(self.t2_low_ms.value), float(self.t2_high_ms.value)),
            "min_r2": float(self.min_r2.value),
        }
        if self.max_te_ms.value > 0:
            opts["max_te_ms"] = float(self.max_te_ms.value)
        if self.method.value == "epg":
            if self.refocusing_deg.value > 0:
                opts["refocusing_deg"] = float(self.refocusing_deg.value)
            profile = str(self.slice_profile.value)
            opts["slice_profile"] = None if profile == "none" else profile
            opts["b1"] = str(self.b1.value)
        return opts

    def run(self, *_: Any) -> Any:
        """Start the fit of the chosen exam; returns the worker (None when nothing to fit)."""
        exam: Exam | None = self.exam_choice.value
        if self.busy:
            self.status.value = "A fit is still running."
            return None
        if exam is None or exam.series is None:
            self.status.value = "Open a multi-echo series first (File > Open, or a sample)."
            return None
        series = exam.series
        method = str(self.method.value)
        mask = str(self.mask.value)
        options = self.options()

        def job(progress: Any) -> tuple[T2Map, list[str]]:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                t2map = fit_t2(series, method, mask=mask, progress=progress, **options)
            return t2map, [str(w.message) for w in caught]

        self.status.value = f"Fitting {exam.name} ({method})…"
        self.progress.value = 0
        self.run_button.enabled = False
        return self.jobs.run(
            job,
            desc=f"discT2: fitting {exam.name}",
            on_done=lambda result: self._fitted(exam, *result),
            with_progress=self._progressed,
        )

    def _progressed(self, done: int, total: int) -> None:
        # Chunks finish on several threads, so reports may arrive out of order: never go back.
        if not self.busy:
            return
        self.progress.max = max(int(total), 1)
        self.progress.value = max(int(done), min(self.progress.value, self.progress.max))

    def _fitted(self, exam: Exam, t2map: T2Map, notes: list[str]) -> None:
        self.run_button.enabled = True
        self.last_map = t2map
        exam.t2map = t2map
        for role in ("t2", "s0", "t2_sd"):
            for layer in layers_of(self.viewer, exam, role):
                self.viewer.layers.remove(layer)
        added = [self.viewer.add_image(data, **meta) for data, meta, _ in exam.map_layers()]
        added[0].colorbar.visible = True
        # The ROI layers stay on top of the new maps.
        for role in ("rois", "outlines", "corners", "clicks"):
            for layer in layers_of(self.viewer, exam, role):
                self.viewer.layers.move(self.viewer.layers.index(layer), len(self.viewer.layers))
        if exam.session.discs:
            exam.session.update()  # the table now measures the new map
        prov = t2map.provenance
        n, secs = prov.get("n_fitted", "?"), float(prov.get("elapsed_s", 0.0))
        text = f"{exam.name}: {n} voxels fitted in {secs:.1f} s."
        self.status.value = " ".join([text, *notes])
        self.progress.value = self.progress.max

    def _failed(self, exc: BaseException) -> None:
        self.run_button.enabled = True
        self.status.value = f"Fit failed: {exc}"
