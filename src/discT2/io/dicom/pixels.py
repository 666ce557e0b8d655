"""Decode the pixels of a laid-out series and rescale each image with its own slope/intercept."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import UID

from discT2.errors import DicomSeriesError, InputError, MissingDependencyError
from discT2.io._checks import MAX_IMAGE_BYTES
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
    _check_series_size(first, n_k, n_e, root)
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
            _check_declared_pixels(ds, path, name)
            return np.asarray(ds.pixel_array)
        except DicomSeriesError:
            raise
        except Exception as exc:  # decoders raise many types for corrupt data
            raise DicomSeriesError(f"{name}: unreadable pixel data ({exc})") from exc


def _check_series_size(first: Frame, n_k: int, n_e: int, root: Path) -> None:
    """Refuse a grid whose images would not fit in memory before allocating it."""
    declared = first.rows * first.columns * n_k * n_e * np.dtype(np.float32).itemsize
    if first.rows <= 0 or first.columns <= 0 or declared > MAX_IMAGE_BYTES:
        raise DicomSeriesError(
            f"{first.label(root)}: the headers declare {first.rows} x {first.columns} pixels "
            f"x {n_k} slices x {n_e} echoes ({declared / 1024**3:.3g} GiB); refused (at most "
            f"{MAX_IMAGE_BYTES // 1024**3} GiB)"
        )


def _check_declared_pixels(ds: pydicom.Dataset, path: Path, name: str) -> None:
    """Compare the header's image size with the pixel data held, before decoding allocates it.

    Uncompressed data must hold Rows x Columns x frames x samples x BitsAllocated bits;
    compressed data cannot be checked byte for byte, so the decoded size is capped.
    """
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    frames = int(ds.get("NumberOfFrames") or 1)
    samples = int(ds.get("SamplesPerPixel") or 1)
    bits = int(ds.get("BitsAllocated") or 0)
    if min(rows, columns, frames, samples, bits) <= 0 or (bits % 8 and bits != 1):
        raise DicomSeriesError(
            f"{name}: unreadable pixel data: the header declares {rows} x {columns} pixels, "
            f"{frames} frames, {samples} samples of {bits} bits"
        )
    declared = rows * columns * frames * samples * max(bits, 8) // 8
    if declared > MAX_IMAGE_BYTES:
        raise DicomSeriesError(
            f"{name}: the header declares {rows} x {columns} pixels x {frames} frames "
            f"({declared / 1024**3:.3g} GiB); refused (at most "
            f"{MAX_IMAGE_BYTES // 1024**3} GiB)"
        )
    element = next(
        (ds[k] for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData") if k in ds), None
    )
    if element is None or element.is_undefined_length or bits == 1:
        return  # encapsulated (compressed) data: sizes checked by the decoder
    held = len(element.value or b"")
    if held < declared:
        raise DicomSeriesError(
            f"{name}: unreadable pixel data (truncated): the header declares {rows} x {columns} "
            f"pixels x {frames} frames of {bits} bits ({declared} bytes), the file holds {held} "
            "bytes"
        )


def _check_decoder(syntax: UID | None, name: str) -> None:
    if syntax is None:
        return
    try:
        compressed = syntax.is_compressed
    except ValueError as exc:  # a UID that is not a transfer syntax
        raise DicomSeriesError(f"{name}: unreadable pixel data: {exc} ({syntax})") from exc
    if not compressed:
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
