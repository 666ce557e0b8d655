"""Input the loader refuses, with a message that names the folder or file and the problem."""

import re

import numpy as np
import pydicom
import pytest
from pydicom.pixels.decoders.base import Decoder
from pydicom.uid import RLELossless

from discT2 import (
    DicomSeriesError,
    EchoTimeError,
    GeometryError,
    InputError,
    MissingDependencyError,
    load_series,
)


def _folder(tmp_path):
    return re.escape(str(tmp_path))


def test_incomplete_grid_names_slice_and_echo(tmp_path, dcm):
    files = dcm.write(dcm.make_series(seed=30), tmp_path, vendor="ge")
    dcm.by_echo_slice(files)[(30.0, 1)].unlink()  # slice 2, echo 3
    with pytest.raises(
        DicomSeriesError,
        match=_folder(tmp_path) + r".*incomplete slice x echo grid: 5 slices x 4 echoes need 20 "
        r"images, 19 found; missing: slice 2/5 \(position .* mm\) echo 3/4 \(TE 30 ms\)",
    ):
        load_series(tmp_path)


def test_a_missing_slice_leaves_uneven_spacing(tmp_path, dcm):
    files = dcm.write(dcm.make_series(seed=31), tmp_path, vendor="siemens")
    for (_, k), f in dcm.by_echo_slice(files).items():
        if k == 2:
            f.unlink()
    with pytest.raises(GeometryError, match=_folder(tmp_path) + r".*not evenly spaced.*8\.00 mm"):
        load_series(tmp_path)


def test_duplicate_echo_times(tmp_path, dcm):
    files = dcm.write(dcm.make_series(seed=32), tmp_path, vendor="siemens")
    echo3 = [f for (te, _), f in dcm.by_echo_slice(files).items() if te == 30.0]
    dcm.edit(echo3, lambda ds: setattr(ds, "EchoTime", 20.0))
    with pytest.raises(
        EchoTimeError,
        match=_folder(tmp_path) + r".*duplicate echo times: slice 1 of 5 .* has 2 images with "
        r"EchoTime 20 ms \(EchoNumbers 2, 3\)",
    ) as raised:
        load_series(tmp_path)
    assert isinstance(raised.value, DicomSeriesError)  # both kinds of caller catch it


def test_ge_research_style_same_te_everywhere(tmp_path, dcm):
    files = dcm.write(dcm.make_series(seed=33), tmp_path, vendor="ge")

    def research(ds):
        ds.EchoTime, ds.EchoNumbers = 10.0, 1

    dcm.edit(files, research)
    with pytest.raises(
        EchoTimeError, match=r"Every slice has 4 images with the same EchoTime and EchoNumbers 1"
    ):
        load_series(tmp_path)


def test_single_echo_series(tmp_path, dcm):
    files = dcm.write(dcm.make_series(seed=34), tmp_path, vendor="siemens", series_number=3)
    for (te, _), f in dcm.by_echo_slice(files).items():
        if te != 10.0:
            f.unlink()
    pattern = _folder(tmp_path) + r".*series 3 'T2 MAP MESE SAG' has a single echo \(TE 10 ms\)"
    with pytest.raises(EchoTimeError, match=pattern):
        load_series(tmp_path)
    with pytest.raises(EchoTimeError, match=r"single echo"):
        load_series(tmp_path, series=3)
    one_file = sorted(tmp_path.iterdir())[0]
    with pytest.raises(EchoTimeError, match=re.escape(str(one_file)) + r".*single echo"):
        load_series(one_file)


def test_mixed_orientations_in_one_series(tmp_path, dcm):
    files = dcm.write(dcm.make_series(seed=35), tmp_path, vendor="ge")
    # one slice's images re-planned axially, still in the same series
    slice0 = [f for (_, k), f in dcm.by_echo_slice(files).items() if k == 0]
    dcm.edit(slice0, lambda ds: setattr(ds, "ImageOrientationPatient", [1, 0, 0, 0, 1, 0]))
    with pytest.raises(
        GeometryError,
        match=_folder(tmp_path) + r".*mixed orientations or geometries in one series: 16 images "
        r"sagittal 12x10; 4 images axial 12x10",
    ):
        load_series(tmp_path)


@pytest.mark.parametrize(
    ("keyword", "tag"),
    [
        ("ImagePositionPatient", r"\(0020,0032\)"),
        ("ImageOrientationPatient", r"\(0020,0037\)"),
        ("PixelSpacing", r"\(0028,0030\)"),
    ],
)
def test_missing_geometry_tags(tmp_path, dcm, keyword, tag):
    files = dcm.write(dcm.make_series(seed=36), tmp_path, vendor="siemens")
    dcm.edit(files[3:4], lambda ds: delattr(ds, keyword))
    with pytest.raises(
        GeometryError, match=re.escape(files[3].name) + rf" lacks {keyword} {tag}"
    ) as raised:
        load_series(tmp_path)
    assert str(tmp_path) in str(raised.value)


@pytest.mark.parametrize(
    ("keyword", "value", "tag"),
    [("ImageOrientationPatient", [0, 0, 0, 0, 0, 0], r"\(0020,0037\) \(or it is not two unit"),
     ("PixelSpacing", [0, 0.7], r"\(0028,0030\) \(or it is not positive\)")],
)  # fmt: skip
def test_invalid_geometry_values(tmp_path, dcm, keyword, value, tag):
    files = dcm.write(dcm.make_series(seed=42), tmp_path, vendor="philips")
    dcm.edit(files[2:3], lambda ds: setattr(ds, keyword, value))
    with pytest.raises(GeometryError, match=re.escape(files[2].name) + rf" lacks {keyword} {tag}"):
        load_series(tmp_path)


def test_missing_echo_time(tmp_path, dcm):
    files = dcm.write(dcm.make_series(seed=37), tmp_path, vendor="siemens")
    dcm.edit(files[5:6], lambda ds: delattr(ds, "EchoTime"))
    with pytest.raises(EchoTimeError, match=re.escape(files[5].name) + r" has no EchoTime"):
        load_series(tmp_path)
    dcm.edit(files, lambda ds: delattr(ds, "EchoTime") if "EchoTime" in ds else None)
    with pytest.raises(EchoTimeError, match=r"no EchoTime .* in any image"):
        load_series(tmp_path)


@pytest.mark.parametrize("damage", ["truncate", "drop"])
def test_unreadable_pixel_data(tmp_path, dcm, damage):
    files = dcm.write(dcm.make_series(seed=38), tmp_path, vendor="ge")
    if damage == "truncate":
        dcm.edit(files[7:8], lambda ds: setattr(ds, "PixelData", ds.PixelData[:100]))
    else:
        dcm.edit(files[7:8], lambda ds: delattr(ds, "PixelData"))
    with pytest.raises(DicomSeriesError, match=re.escape(files[7].name) + r": unreadable pixel"):
        load_series(tmp_path)


def test_no_dicom_at_all(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    (tmp_path / "blob").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(
        DicomSeriesError,
        match=_folder(tmp_path) + r": no DICOM MR images found \(found 2 not DICOM\)",
    ):
        load_series(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DicomSeriesError, match=r"empty: no DICOM MR images found \(the folder is"):
        load_series(tmp_path / "empty")


def test_missing_path():
    with pytest.raises(InputError, match=r"/no/such/place: no such file or folder"):
        load_series("/no/such/place")


def test_missing_decoder_names_the_extra(tmp_path, dcm, monkeypatch):
    files = dcm.write(dcm.make_series(seed=39), tmp_path, vendor="ge", transfer_syntax=RLELossless)
    monkeypatch.setattr(Decoder, "is_available", property(lambda self: False))
    with pytest.raises(
        MissingDependencyError,
        match=r"compressed as RLE Lossless and no decoder .* pip install \"discT2\[compression\]\"",
    ) as raised:
        load_series(tmp_path)
    assert any(f.name in str(raised.value) for f in files)


def test_colour_images_are_refused(tmp_path, dcm):
    files = dcm.write(dcm.make_series(seed=40), tmp_path, vendor="ge")

    def colour(ds):
        rgb = np.repeat(ds.pixel_array[..., None], 3, axis=2).astype(np.uint8)
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.PixelData = rgb.tobytes()

    dcm.edit(files[:1], colour)
    with pytest.raises(DicomSeriesError, match=re.escape(files[0].name) + r": a colour image"):
        load_series(tmp_path)


def test_secondary_captures_are_not_quantitative(tmp_path, dcm):
    files = dcm.write(dcm.make_series(seed=41), tmp_path, vendor="ge")
    dcm.edit(files, lambda ds: setattr(ds, "SOPClassUID", "1.2.840.10008.5.1.4.1.1.7"))
    with pytest.raises(DicomSeriesError, match=r"found 20 secondary capture \(not quantitative\)"):
        load_series(tmp_path)
    assert pydicom.dcmread(files[0]).SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
