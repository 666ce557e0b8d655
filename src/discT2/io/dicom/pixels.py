"""Decode the pixels of a laid-out series and rescale each image with its own slope/intercept."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import UID

from discT2.errors import DicomSeriesError, InputError, MissingDependencyError
from discT2.io.dicom.frames import Frame, quiet_pydicom

__all__ = ["INTENSITIES", "read_images", "rescaler"]

logger = logging.getLogger(__name__)

#: Intensity representations :func:`rescaler` offers.
INTENSITIES = ("rescaled", "fp")

#: Turns one image's stored values (float64, rows x columns) into the values to keep.
Converter = Callable[[np.ndarray, Frame], np.ndarray]


def read_images(grid: np.ndarray, root: Path, convert: Converter) -> np.ndarray:
    """Decode every image of a (K, E) grid and convert it; shape (I, J, K, E), float32.

    Each file is read once (an enhanced file gives all its frames at once). ``convert`` gets each
    image's stored values in float64 and its :class:`Frame`, so that every image is rescaled with
    its own slope and intercept before the result is stored in float32.

    Raises
    ------
    MissingDependencyError
        The pixel data are compressed and no decoder for the syntax is installed.
    DicomSeriesError
        A file's pixel data cannot be decoded or do not have the size the header says.
    """
    n_k, n_e = grid.shape
    first: Frame = grid[0, 0]
    out = np.empty((first.columns, first.rows, n_k, n_e), dtype=np.float32)
    by_path: dict[Path, list[tuple[int, int, Frame]]] = {}
    for k in range(n_k):
        for e in range(n_e):
            f = grid[k, e]
            by_path.setdefault(f.path, []).append((k, e, f))
    for path, entries in by_path.items():
        pixels = _decode(path, entries[0][2], root)
        for k, e, f in entries:
            image = pixels if f.index is None else _frame_of(pixels, f, path, root)
            if image.shape != (f.rows, f.columns):
                raise DicomSeriesError(
                    f"{_name(path, root)}: unreadable pixel data: an image of shape "
                    f"{image.shape} where Rows x Columns is {f.rows} x {f.columns}"
                )
            # pixel rows run along j, columns along i
            out[:, :, k, e] = convert(image.astype(np.float64), f).T
    return out


def rescaler(grid: np.ndarray, intensity: str, root: Path) -> tuple[Converter, str]:
    """The per-image conversion for an intensity representation, and its name for ``meta``.

    Parameters
    ----------
    grid : ndarray of Frame, shape (K, E)
    intensity : {'rescaled', 'fp'}
        ``'rescaled'``: ``SV * RescaleSlope + RescaleIntercept`` per image (the displayed value;
        the stored value when a file has no rescale). ``'fp'``: Philips floating point,
        ``rescaled / (RescaleSlope * ScaleSlope)`` with the private scale slope (2005,100E).
    root : Path
        Named in messages.

    Returns
    -------
    convert : callable
        ``convert(stored_float64, frame) -> values``.
    representation : str
        ``'stored'`` (no image has rescale tags), ``'rescaled'`` or ``'philips-fp'``.

    Raises
    ------
    InputError
        Unknown ``intensity``, or ``'fp'`` without a Philips scale slope in every image.
    """
    if intensity not in INTENSITIES:
        raise InputError(f"intensity must be one of {INTENSITIES}; got {intensity!r}")
    frames: list[Frame] = list(grid.ravel())
    if intensity == "fp":
        for f in frames:
            slope = 1.0 if f.rescale_slope is None else f.rescale_slope
            if not f.philips_scale_slope or slope == 0:
                raise InputError(
                    f"{f.label(root)}: intensity='fp' needs the Philips private scale slope "
                    "(2005,100E) and a non-zero RescaleSlope in every image; this one has "
                    f"scale slope {f.philips_scale_slope} and RescaleSlope {slope}. Use "
                    "intensity='rescaled'."
                )
        return _philips_fp, "philips-fp"
    rescaled = any(f.rescale_slope is not None or f.rescale_intercept is not None for f in frames)
    return _modality, "rescaled" if rescaled else "stored"


def _modality(stored: np.ndarray, f: Frame) -> np.ndarray:
    slope = 1.0 if f.rescale_slope is None else f.rescale_slope
    intercept = 0.0 if f.rescale_intercept is None else f.rescale_intercept
    return stored * slope + intercept


def _philips_fp(stored: np.ndarray, f: Frame) -> np.ndarray:
    slope = 1.0 if f.rescale_slope is None else f.rescale_slope
    return _modality(stored, f) / (slope * f.philips_scale_slope)  # type: ignore[operator]


def _decode(path: Path, frame: Frame, root: Path) -> np.ndarray:
    name = _name(path, root)
    if frame.samples_per_pixel != 1:
        raise DicomSeriesError(
            f"{name}: a colour image ({frame.samples_per_pixel} samples per pixel) is not a "
            "quantitative magnitude image"
        )
    with quiet_pydicom():
        try:
            ds = pydicom.dcmread(path, force=True)
        except Exception as exc:  # pydicom raises many types for broken files
            raise DicomSeriesError(f"{name}: unreadable file ({exc})") from exc
        if (
            "PixelData" not in ds
            and "FloatPixelData" not in ds
            and "DoubleFloatPixelData" not in ds
        ):
            raise DicomSeriesError(f"{name}: unreadable pixel data: the file has none")
        syntax = ds.file_meta.get("TransferSyntaxUID") if "file_meta" in dir(ds) else None
        _check_decoder(UID(str(syntax)) if syntax else None, name)
        try:
            return np.asarray(ds.pixel_array)
        except Exception as exc:  # decoders raise many types for corrupt data
            raise DicomSeriesError(f"{name}: unreadable pixel data ({exc})") from exc


def _check_decoder(syntax: UID | None, name: str) -> None:
    if syntax is None or not syntax.is_compressed:
        return
    from pydicom.pixels import get_decoder

    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as exc:
        raise DicomSeriesError(
            f"{name}: pixel data compressed as {syntax.name}, which pydicom cannot decode"
        ) from exc
    if not decoder.is_available:
        raise MissingDependencyError(
            f"{name}: pixel data compressed as {syntax.name} and no decoder for it is "
            'installed; install the optional decoders: pip install "discT2[compression]"'
        )


def _frame_of(pixels: np.ndarray, f: Frame, path: Path, root: Path) -> np.ndarray:
    if pixels.ndim == 2:
        if f.index == 0:
            return pixels
    elif f.index is not None and f.index < pixels.shape[0]:
        return pixels[f.index]
    number = 1 if f.index is None else f.index + 1
    raise DicomSeriesError(
        f"{_name(path, root)}: unreadable pixel data: frame {number} missing from pixel data of "
        f"shape {pixels.shape}"
    )


def _name(path: Path, root: Path) -> str:
    """The full path: messages must name the file so that the user can find it."""
    return str(path)
