"""Relaxation times and proton densities of the phantom's tissues (1.5-3 T, spin echo).

Values are typical literature figures, chosen inside published ranges ([V] checked against the
literature, [R] recalled). T2 and PD set
the image; T1 weights the stimulated-echo pathways and the saturation at the repetition time.

The disc is special: its T2 and T1 are not one number but a step function along the disc's own
anterior-posterior axis, one value per ROI band (see :class:`DiscRelaxation`), so that the true T2
of each of the five ROIs is known exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from discT2.errors import InputError

__all__ = [
    "DISC_CODE",
    "ROI_NAMES",
    "TISSUES",
    "DiscRelaxation",
    "Tissue",
    "degenerated_disc",
    "healthy_disc",
    "tissue_by_code",
]

#: The five disc ROIs, anterior to posterior (docs/methods/rois.md).
ROI_NAMES: tuple[str, ...] = (
    "AF_anterior",
    "NP_anterior",
    "NP_central",
    "NP_posterior",
    "AF_posterior",
)


@dataclass(frozen=True)
class Tissue:
    """One tissue class of the phantom.

    Attributes
    ----------
    code : int
        Label in ``labels.nii.gz``.
    name : str
        Short name.
    t2_ms, t1_ms : float
        Relaxation times (ms).
    pd : float
        Relative proton density (signal at full relaxation, 1 = CSF).
    source : str
        Where the values come from.
    """

    code: int
    name: str
    t2_ms: float
    t1_ms: float
    pd: float
    source: str


#: Label of every disc voxel; its T2/T1 come from the disc's :class:`DiscRelaxation`.
DISC_CODE = 20

_TISSUE_LIST = (
    Tissue(0, "air", 0.0, 0.0, 0.0, "no signal"),
    Tissue(1, "skin", 35.0, 600.0, 0.6, "[R] skin/dermis, intermediate signal"),
    Tissue(2, "subcutaneous_fat", 140.0, 280.0, 0.95,
           "[V] fat T2 41-143 ms (Pai 2008), 151 ms in CPMG at 3 T (MyoQMRI); [R] T1 ~260-300 ms"),
    Tissue(3, "muscle", 35.0, 1000.0, 0.75,
           "[V] muscle T2 34.1 +/- 6.6 ms (Pai 2008); [R] T1 ~900-1100 ms"),
    Tissue(4, "ligament", 20.0, 700.0, 0.35,
           "[R] ligaments (ALL, PLL, flavum, interspinous): short T2, low PD"),
    Tissue(5, "cortical_bone", 1.5, 400.0, 0.05, "[R] cortical bone/endplate: almost no signal"),
    Tissue(6, "marrow", 65.0, 550.0, 0.8,
           "[V] marrow T2 42-160 ms, sequence dependent (Pai 2008); [R] fatty marrow T1 ~500-600"),
    Tissue(7, "basivertebral_vein", 180.0, 1400.0, 0.9, "[R] slow venous blood, bright on T2"),
    Tissue(8, "epidural_fat", 140.0, 280.0, 0.95, "as subcutaneous fat"),
    Tissue(9, "csf", 1800.0, 4000.0, 1.0, "[R] CSF T2 ~1500-2300 ms, T1 ~3500-4500 ms"),
    Tissue(10, "spinal_cord", 75.0, 850.0, 0.75, "[R] cord / conus medullaris"),
    Tissue(11, "nerve_roots", 75.0, 900.0, 0.7, "[R] cauda equina roots"),
    Tissue(12, "vessel", 50.0, 1400.0, 0.05, "aorta: flow void in spin echo"),
    Tissue(13, "soft_tissue", 55.0, 900.0, 0.7,
           "[S] prevertebral and abdominal soft tissue (bowel, vessels, psoas) as one class"),
    Tissue(14, "prevertebral_fat", 140.0, 280.0, 0.95, "as subcutaneous fat"),
    Tissue(DISC_CODE, "disc", float("nan"), float("nan"), float("nan"),
           "per disc and ROI band, see DiscRelaxation"),
)  # fmt: skip

#: Tissues by name.
TISSUES: dict[str, Tissue] = {t.name: t for t in _TISSUE_LIST}
_BY_CODE: dict[int, Tissue] = {t.code: t for t in _TISSUE_LIST}


def tissue_by_code(code: int) -> Tissue:
    """The :class:`Tissue` with label ``code``."""
    try:
        return _BY_CODE[int(code)]
    except KeyError:
        raise InputError(f"no phantom tissue has label {code}; known: {sorted(_BY_CODE)}") from None


@dataclass(frozen=True)
class DiscRelaxation:
    """Relaxation and proton density of one disc.

    T2 and T1 are constant within each of the five ROI bands (fractions ``0, .2, .4, .6, .8, 1``
    of the disc's own anterior-posterior axis, docs/methods/rois.md); disc tissue in front of band 1
    or behind band 5 (the bulge of the annulus) takes the value of the nearest band. Proton density
    varies smoothly (bright elliptical nucleus, darker annulus), which gives the first echo its
    anatomical look without touching the T2 truth.

    Attributes
    ----------
    band_t2_ms, band_t1_ms : tuple of 5 float
        T2 and T1 (ms) of the bands, anterior to posterior.
    nucleus_pd, annulus_pd : float
        Proton density at the centre of the nucleus and in the annulus.
    nucleus_size : (float, float)
        Semi-axes of the nucleus as fractions of the disc's AP length and height.
    nucleus_center : float
        AP position of the nucleus centre as a fraction (0 anterior, 1 posterior).
    cleft : bool
        Draw the intranuclear cleft (a thin darker line, usual in adult discs).
    height_scale : float
        Disc height relative to the template (degenerated discs are lower).
    grade : int
        Pfirrmann grade this disc imitates (informative only).
    """

    band_t2_ms: tuple[float, ...]
    band_t1_ms: tuple[float, ...]
    nucleus_pd: float = 1.0
    annulus_pd: float = 0.68
    nucleus_size: tuple[float, float] = (0.33, 0.36)
    nucleus_center: float = 0.55
    cleft: bool = True
    height_scale: float = 1.0
    grade: int = 2

    def __post_init__(self) -> None:
        for name in ("band_t2_ms", "band_t1_ms"):
            values = np.asarray(getattr(self, name), dtype=float)
            if values.shape != (5,) or not np.all(np.isfinite(values)) or np.any(values <= 0):
                raise InputError(f"DiscRelaxation.{name} needs 5 positive values; got {values}")
            object.__setattr__(self, name, tuple(float(v) for v in values))

    def scaled(self, t2_factors: tuple[float, ...] | np.ndarray) -> DiscRelaxation:
        """The same disc with each band's T2 multiplied by its factor (a treatment effect).

        Parameters
        ----------
        t2_factors : sequence of float or ndarray, shape (5,)
            One factor per ROI band, anterior to posterior.
        """
        factors = np.broadcast_to(np.asarray(t2_factors, dtype=float), (5,))
        if np.any(factors <= 0):
            raise InputError(f"T2 factors must be positive; got {factors.tolist()}")
        return replace(
            self,
            band_t2_ms=tuple(float(t * f) for t, f in zip(self.band_t2_ms, factors, strict=True)),
        )


def healthy_disc(scale: float = 1.0) -> DiscRelaxation:
    """A healthy (Pfirrmann II) disc, T2 scaled by ``scale``.

    Nucleus 115-128 ms, annulus 55-60 ms: [V] ESR poster grade II NP 129 +/- 19 ms, AF 50-54 ms;
    Sharma 2020 healthy NP 121 +/- 22 ms. T1: [R] NP ~1200-1300 ms, AF ~900 ms.

    Parameters
    ----------
    scale : float, optional
        Factor on every band's T2 (a subject's or a disc's variation).
    """
    t2 = np.array([55.0, 115.0, 128.0, 120.0, 60.0]) * scale
    return DiscRelaxation(
        band_t2_ms=tuple(np.round(t2, 1)),
        band_t1_ms=(900.0, 1250.0, 1250.0, 1250.0, 900.0),
        grade=2,
    )


def degenerated_disc(scale: float = 1.0, grade: int = 3) -> DiscRelaxation:
    """A degenerated (Pfirrmann III or IV) disc, T2 scaled by ``scale``.

    Grade III: NP 76-84 ms, AF 47-50 ms ([V] ESR poster III NP 84 +/- 10, AF 45-48 ms;
    Takashima 2012 III 72-93 ms). Grade IV: NP 58-64 ms ([V] ESR IV 51 +/- 9, Takashima < 72 ms).
    Lower, less bright nucleus without a cleft.

    Parameters
    ----------
    scale : float, optional
        Factor on every band's T2 (a subject's or a disc's variation).
    grade : {3, 4}, optional
        Pfirrmann grade.
    """
    if grade not in (3, 4):
        raise InputError(f"degenerated_disc grade must be 3 or 4; got {grade}")
    if grade == 3:
        t2 = np.array([47.0, 76.0, 84.0, 79.0, 50.0]) * scale
        pd, height, size = 0.85, 0.85, (0.28, 0.28)
    else:
        t2 = np.array([42.0, 58.0, 64.0, 60.0, 44.0]) * scale
        pd, height, size = 0.74, 0.7, (0.22, 0.2)
    return DiscRelaxation(
        band_t2_ms=tuple(np.round(t2, 1)),
        band_t1_ms=(850.0, 1050.0, 1050.0, 1050.0, 850.0),
        nucleus_pd=pd,
        annulus_pd=0.68,
        nucleus_size=size,
        cleft=False,
        height_scale=height,
        grade=grade,
    )
