"""Exceptions and warnings raised by discT2.

Every error that comes from the user's input derives from :class:`InputError`, which is also a
:class:`ValueError`, so ``except ValueError`` keeps working for callers that do not know discT2.
Messages say what was expected, what was found, where (file or folder), and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "DicomSeriesError",
    "DiscT2Error",
    "EchoTimeError",
    "FitWarning",
    "GeometryError",
    "InputError",
    "MissingDependencyError",
    "RegistrationError",
    "RoiError",
    "ShapeMismatchError",
    "StudyError",
]


class DiscT2Error(Exception):
    """Base class of every exception that discT2 raises on purpose."""


class InputError(DiscT2Error, ValueError):
    """Input that discT2 cannot use: bad shapes, echo times, files or options."""


class EchoTimeError(InputError):
    """Echo times that are missing, duplicated, non-increasing or inconsistent with the data."""


class ShapeMismatchError(InputError):
    """Arrays whose shapes do not agree (data vs echo times, map vs mask, ...)."""


class DicomSeriesError(InputError):
    """A DICOM file or folder that does not make one complete multi-echo series."""


class GeometryError(InputError):
    """Missing or inconsistent spatial geometry (affine, orientation, spacing, landmarks)."""


class RoiError(InputError):
    """Disc landmarks, outlines or ROI definitions that cannot be used."""


class StudyError(InputError):
    """A study manifest (``study.csv``, ``arms.csv``) that cannot be used."""


class RegistrationError(DiscT2Error):
    """Registration of a follow-up exam to its baseline failed or did not converge."""


class MissingDependencyError(DiscT2Error, ImportError):
    """An optional dependency this input needs is not installed (the message names the extra)."""


class FitWarning(UserWarning):
    """Many voxels failed to fit, or the acquisition cannot resolve the fitted T2 range."""
