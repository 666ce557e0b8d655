"""Folders as exported: other series, localizers, maps, phase images, junk files, split series."""

import logging
import re
import shutil

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from discT2 import DicomSeriesError, SeriesInfo, find_series, load_series
from discT2.io.dicom import load_dicom_map, scan_dicom


def _new_series(files, number, description=None):
    uid = generate_uid()

    def change(ds):
        ds.SeriesInstanceUID, ds.SeriesNumber = uid, number
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        if description is not None:
            ds.SeriesDescription = description

    return change


def _two_series(tmp_path, dcm):
    a = dcm.make_series(seed=50)
    b = dcm.make_series(seed=51, te_ms=(12.0, 24.0, 36.0))
    dcm.write(a, tmp_path / "a", vendor="siemens", series_number=5,
              series_description="T2 MAP SAG")  # fmt: skip
    dcm.write(b, tmp_path / "b", vendor="siemens", series_number=9,
              series_description="T2 map sag repeat")  # fmt: skip
    return a, b


def test_choosing_among_several_series(tmp_path, dcm):
    a, b = _two_series(tmp_path, dcm)
    infos = find_series(tmp_path)
    assert [(i.number, i.n_echoes, i.kind) for i in infos] == [
        (5, 4, "multi-echo"),
        (9, 3, "multi-echo"),
    ]
    with pytest.raises(
        DicomSeriesError,
        match=re.escape(str(tmp_path)) + r": 2 multi-echo series found; choose one with series=",
    ) as raised:
        load_series(tmp_path)
    assert "series 5 'T2 MAP SAG'" in str(raised.value)
    assert "series 9 'T2 map sag repeat'" in str(raised.value)
    assert "3 echoes 12-36 ms" in str(raised.value)
    uid_b = infos[1].uid
    for choice, truth in [
        (5, a),
        ("9", b),
        (uid_b, b),
        ("t2 map sag", a),  # exact, case-insensitive, although it is also a substring of b's
        ("REPEAT", b),  # unique substring
        (infos[0], a),  # the SeriesInfo itself
    ]:
        s = load_series(tmp_path, series=choice)
        np.testing.assert_array_equal(s.data, truth.data)
    with pytest.raises(DicomSeriesError, match=r"2 series match 'sag'; choose by UID"):
        load_series(tmp_path, series="sag")
    with pytest.raises(DicomSeriesError, match=r"no series matches 7; found:\n  - series 5"):
        load_series(tmp_path, series=7)


def test_series_info_fields(tmp_path, dcm):
    truth = dcm.make_series(seed=52)
    files = dcm.write(truth, tmp_path, vendor="philips", series_number=301,
                      series_description="T2 MAP SAG")  # fmt: skip
    (info,) = find_series(tmp_path)
    assert isinstance(info, SeriesInfo)
    assert info.number == 301 and info.description == "T2 MAP SAG"
    assert info.uid == pydicom.dcmread(files[0]).SeriesInstanceUID
    assert info.kind == "multi-echo" and info.vendor == "philips"
    assert info.echo_times_ms == (10.0, 20.0, 30.0, 40.0)
    assert info.matrix == (12, 10) and info.n_slices == 5
    assert info.voxel_size_mm == pytest.approx((0.8, 0.7, 4.0), abs=1e-4)
    assert info.orientation == "sagittal" and info.n_files == 20
    assert set(info.paths) == set(files)
    assert info.problem is None and info.loadable
    assert info.acquisition_time == "09:30:00"
    with pytest.raises(AttributeError):
        info.number = 3  # frozen


def test_junk_files_dicomdir_and_hidden_files_are_skipped(tmp_path, dcm):
    truth = dcm.make_series(seed=53)
    dcm.write(truth, tmp_path / "DICOM" / "S1", vendor="philips")
    (tmp_path / "README.txt").write_text("exported by PACS")
    (tmp_path / "DICOM" / "S1" / "VERSION").write_bytes(b"\x00\x01garbage" * 50)
    (tmp_path / ".DS_Store").write_bytes(b"\x00" * 300)
    (tmp_path / "meta.json").write_text("{}")
    (tmp_path / "DICOM" / "EMPTY").write_bytes(b"")
    broken = bytes(128) + b"DICM" + np.random.default_rng(0).bytes(2000)
    (tmp_path / "DICOM" / "S1" / "IM_BROKEN").write_bytes(broken)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dicomdir = Dataset()
    dicomdir.file_meta = meta
    dicomdir.FileSetID = "EXPORT"
    dicomdir.DirectoryRecordSequence = []
    dicomdir.save_as(tmp_path / "DICOMDIR", enforce_file_format=True)

    for source in (tmp_path, tmp_path / "DICOMDIR"):  # the folder, or its DICOMDIR
        s = load_series(source)
        np.testing.assert_allclose(s.data, truth.data, atol=0.51)
    skipped = s.meta["skipped_files"]
    assert skipped["DICOMDIR"] == 1
    assert skipped["not DICOM"] == 4  # README.txt, VERSION, meta.json, EMPTY
    # IM_BROKEN: a preamble, then noise that pydicom may or may not parse into elements
    assert skipped.get("unreadable header", 0) + skipped.get("not an MR image", 0) == 1
    assert skipped["hidden file"] == 1
    assert any("skipped while reading" in n for n in s.meta["notes"])


def test_localizers_and_phase_images_are_not_echoes(tmp_path, dcm):
    truth = dcm.make_series(seed=54)
    files = dcm.write(truth, tmp_path / "mese", vendor="siemens", series_number=4)
    # a three-plane localizer series, single echo
    scout = dcm.make_series(shape=(12, 10, 1), seed=55, te_ms=(4.0, 8.0))
    scout_files = dcm.write(scout, tmp_path / "scout", vendor="siemens", series_number=1)
    dcm.edit(scout_files, lambda ds: setattr(ds, "ImageType", ["ORIGINAL", "PRIMARY", "LOCALIZER"]))
    # phase images of every echo inside the MESE series (Siemens writes them with ImageType P)
    for f in files:
        ds = pydicom.dcmread(f)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "P", "ND"]
        ds.SOPInstanceUID = generate_uid()
        ds.save_as(f.with_name(f.name + ".phase"))
    # GE marks phase in a private tag instead
    ge_phase = tmp_path / "mese" / "ge_phase"
    ds = pydicom.dcmread(files[0])
    ds.SOPInstanceUID = generate_uid()
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
    ds.Manufacturer = "GE MEDICAL SYSTEMS"
    block = ds.private_block(0x0043, "GEMS_PARM_01", create=True)
    block.add_new(0x2F, "SS", 1)
    ds.save_as(ge_phase)

    (info,) = find_series(tmp_path)
    assert info.number == 4
    assert "skipped 21 phase/real/imaginary images" in info.notes
    s = load_series(tmp_path)
    np.testing.assert_array_equal(s.data, truth.data)
    assert s.meta["skipped_files"]["localizer images"] == 2
    assert s.meta["skipped_files"]["phase/real/imaginary images"] == 21


def test_scanner_t2_map_series_is_offered_separately(tmp_path, dcm):
    truth = dcm.make_series(seed=56)
    files = dcm.write(truth, tmp_path / "mese", vendor="philips", series_number=6)
    t2_ms = np.random.default_rng(0).uniform(20, 200, truth.shape)
    # the map written as echo 1 of a 2-"echo" series, then relabelled as a derived map
    map_series = type(truth)(
        np.stack([t2_ms * 10, t2_ms * 10], -1), [10.0, 20.0], truth.affine, {}
    )  # tenths of ms in the stored values
    map_files = dcm.write(map_series, tmp_path / "map", vendor="ge", series_number=7,
                          series_description="T2 MAP (scanner)")  # fmt: skip
    map_files = [f for (te, _), f in dcm.by_echo_slice(map_files).items() if te == 10.0]
    for f in set(dcm.by_echo_slice(list((tmp_path / "map").iterdir())).values()) - set(map_files):
        f.unlink()

    def as_map(ds):
        ds.ImageType = ["DERIVED", "PRIMARY", "T2 MAP", "ND"]
        mapping = Dataset()
        mapping.RealWorldValueSlope, mapping.RealWorldValueIntercept = 0.1, 0.0
        units = Dataset()
        units.CodeValue, units.CodingSchemeDesignator, units.CodeMeaning = "ms", "UCUM", "ms"
        mapping.MeasurementUnitsCodeSequence = [units]
        mapping.LUTLabel = "T2"
        ds.RealWorldValueMappingSequence = [mapping]

    dcm.edit(map_files, as_map)
    infos = find_series(tmp_path)
    assert [(i.number, i.kind) for i in infos] == [(6, "multi-echo"), (7, "map")]
    assert infos[1].map_type == "T2 MAP" and infos[1].n_slices == 5
    assert "T2 map (T2 MAP)" in infos[1].summary()
    s = load_series(tmp_path)  # the map is not a candidate for echoes
    assert s.meta["series_number"] == 6 and len(files) == 20
    values, affine, meta = load_dicom_map(tmp_path)
    np.testing.assert_allclose(values, t2_ms, atol=0.051)  # stored in tenths of ms
    np.testing.assert_allclose(affine, truth.affine, atol=1e-4)
    assert meta["units_source"] == "Real World Value Mapping in ms"
    with pytest.raises(DicomSeriesError, match=r"series 7 'T2 MAP \(scanner\)' is a scanner"):
        load_series(tmp_path, series=7)


def test_map_without_units_needs_a_scale(tmp_path, dcm):
    truth = dcm.make_series(seed=57)
    files = dcm.write(truth, tmp_path, vendor="ge", series_number=8)
    dcm.edit(files, lambda ds: setattr(ds, "ImageType", ["DERIVED", "PRIMARY", "T2_MAP"]))
    first_echo = sorted(f for (te, _), f in dcm.by_echo_slice(files).items() if te == 10.0)
    for f in set(files) - set(first_echo):
        f.unlink()
    with pytest.raises(DicomSeriesError, match=r"units are not stated.*pass scale_to_ms="):
        load_dicom_map(tmp_path)
    values, _, meta = load_dicom_map(tmp_path, scale_to_ms=0.5)
    np.testing.assert_allclose(values, truth.data[..., 0] * 0.5)
    assert meta["units_source"] == "user scale 0.5"
    with pytest.raises(DicomSeriesError, match=r"no multi-echo series found"):
        load_series(tmp_path)


def test_echoes_split_over_series_are_merged_with_a_warning(tmp_path, dcm, caplog):
    truth = dcm.make_series(seed=58)
    files = dcm.write(truth, tmp_path, vendor="ge", series_number=5)
    late = [f for (te, _), f in dcm.by_echo_slice(files).items() if te > 20.0]
    dcm.edit(late, _new_series(late, 6))
    with caplog.at_level(logging.WARNING, logger="discT2"):
        (info,) = find_series(tmp_path)
    assert info.merged_from == (5, 6) and info.n_echoes == 4
    assert "echoes merged from series 5 (TE 10-20 ms), 6 (TE 30-40 ms)" in info.notes[0]
    assert any("merged" in r.getMessage() for r in caplog.records)
    for choice in (None, 5, 6, "6"):
        s = load_series(tmp_path, series=choice)
        np.testing.assert_array_equal(s.data, truth.data)
    assert s.meta["merged_series"] == [5, 6]
    # without merging: two 2-echo series
    assert [i.n_echoes for i in find_series(tmp_path) if not i.merged_from] == []
    assert [i.n_echoes for i in scan_dicom(tmp_path, merge=False).series] == [2, 2]


def test_one_series_per_echo_is_merged(tmp_path, dcm):
    truth = dcm.make_series(seed=59)
    files = dcm.write(truth, tmp_path, vendor="siemens", series_number=10)
    for number, te in enumerate(truth.echo_times_ms, start=10):
        echo = [f for (t, _), f in dcm.by_echo_slice(files).items() if t == te]
        dcm.edit(echo, _new_series(echo, number))
    s = load_series(tmp_path)
    np.testing.assert_array_equal(s.data, truth.data)
    assert s.meta["merged_series"] == [10, 11, 12, 13]


def test_different_protocols_are_not_merged(tmp_path, dcm):
    truth = dcm.make_series(seed=60)
    files = dcm.write(truth, tmp_path, vendor="siemens", series_number=5)
    late = [f for (te, _), f in dcm.by_echo_slice(files).items() if te > 20.0]
    change = _new_series(late, 6)

    def other_protocol(ds):
        change(ds)
        ds.RepetitionTime = 3500.0

    dcm.edit(late, other_protocol)
    assert [(i.number, i.n_echoes) for i in find_series(tmp_path)] == [(5, 2), (6, 2)]


def test_copies_of_the_same_images_are_ignored(tmp_path, dcm):
    truth = dcm.make_series(seed=61)
    dcm.write(truth, tmp_path / "a", vendor="ge")
    shutil.copytree(tmp_path / "a", tmp_path / "backup")
    s = load_series(tmp_path)
    np.testing.assert_array_equal(s.data, truth.data)
    assert s.meta["skipped_files"]["duplicate copies"] == 20


def test_siemens_xa_ice_dims_give_the_echo_number(tmp_path, dcm):
    """XA classic files may lack EchoNumbers; ICE_Dims (0021,1106) carries the echo."""
    from discT2.io.dicom.frames import read_frames

    files = dcm.write(dcm.make_series(seed=62), tmp_path, vendor="siemens")

    def xa(ds):
        echo = int(ds.EchoNumbers)
        del ds.EchoNumbers
        block = ds.private_block(0x0021, "SIEMENS MR SDI 02", create=True)
        block.add_new(0x06, "LO", f"X_{echo}_1_1_1_1_2_1_1_1_1_1_277")

    dcm.edit(files, xa)
    for (te, _), f in dcm.by_echo_slice(files).items():
        (frame,) = read_frames(f)
        assert frame.echo_number == round(te / 10.0)


@pytest.mark.parametrize(
    ("image_type", "description", "expected"),
    [
        (["DERIVED", "PRIMARY", "T2", "MAP"], "MapIt", "map"),
        (["ORIGINAL", "PRIMARY", "T2 MAP", "T2", "UNSPECIFIED"], "T2W_MSE", "map"),
        (["DERIVED", "PRIMARY", "OTHER"], "T2 Map (cartilage)", "map"),
        (["DERIVED", "PRIMARY", "T2STAR_MAP"], "T2 star", "other map images"),
        (["DERIVED", "PRIMARY", "B0 MAP"], "shim", "other map images"),
        (["ORIGINAL", "PRIMARY", "M", "ND"], "T2 map MESE", "single-echo images"),
    ],
)
def test_which_images_are_t2_maps(tmp_path, dcm, image_type, description, expected):
    files = dcm.write(dcm.make_series(seed=63), tmp_path, vendor="siemens", series_number=12)
    for (te, _), f in dcm.by_echo_slice(files).items():
        if te != 10.0:
            f.unlink()

    def relabel(ds):
        ds.ImageType, ds.SeriesDescription = image_type, description

    dcm.edit(sorted(tmp_path.iterdir()), relabel)
    scan = scan_dicom(tmp_path)
    if expected == "map":
        (info,) = scan.series
        assert (info.kind, info.map_type, info.number) == ("map", "T2 MAP", 12)
    else:
        assert scan.series == [] and scan.skipped == {expected: 5}


@pytest.mark.parametrize(
    "image_type",
    [
        ["DERIVED", "PRIMARY", "T2 MAP"],
        ["ORIGINAL", "PRIMARY", "LOCALIZER"],
        ["ORIGINAL", "PRIMARY", "P", "ND"],
    ],
)
def test_an_edited_copy_of_an_echo_file_is_not_taken_for_a_copy(tmp_path, dcm, image_type):
    """A map/localizer/phase image made from an echo file keeps its SOPInstanceUID."""
    truth = dcm.make_series(seed=66)
    files = dcm.write(truth, tmp_path, vendor="siemens")
    ds = pydicom.dcmread(files[0])
    ds.ImageType = image_type
    ds.save_as(tmp_path / "AAA_inserted.dcm")  # read before the echo file it came from
    s = load_series(tmp_path)
    np.testing.assert_array_equal(s.data, truth.data)


def test_broken_uids_do_not_lose_images(tmp_path, dcm):
    """An anonymiser that gives every image the same SOPInstanceUID must not shrink the series."""
    truth = dcm.make_series(seed=64)
    files = dcm.write(truth, tmp_path, vendor="ge")
    same = generate_uid()

    def one_uid(ds):
        ds.SOPInstanceUID = same
        ds.file_meta.MediaStorageSOPInstanceUID = same

    dcm.edit(files, one_uid)
    (info,) = find_series(tmp_path)
    s = load_series(tmp_path)
    np.testing.assert_array_equal(s.data, truth.data)
    assert any("share SOPInstanceUIDs" in note for note in scan_dicom(tmp_path).notes)
    assert info.n_files == 20


def test_summary_lists_uneven_echo_times(tmp_path, dcm):
    truth = dcm.make_series(seed=65, te_ms=(9.5, 19.0, 38.0))
    dcm.write(truth, tmp_path, vendor="ge", series_number=2)
    (info,) = find_series(tmp_path)
    assert "3 echoes 9.5-38 ms (9.5, 19, 38)" in info.summary()
    assert load_series(tmp_path).meta["skipped_files"] == {}
