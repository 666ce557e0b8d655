"""load_series / find_series dispatch: DICOM folder, file list, 4-D NIfTI, one NIfTI per echo."""

import json

import numpy as np
import pytest

from discT2 import (
    EchoTimeError,
    InputError,
    MultiEchoSeries,
    ShapeMismatchError,
    find_series,
    load_series,
)
from discT2.io import load_nifti_echoes, save_map, save_nifti_series
from discT2.io.dicom_write import write_dicom_series


def _series(seed=0, te=(12.0, 24.0, 36.0, 48.0)):
    rng = np.random.default_rng(seed)
    affine = np.array([[0, 0, 4.0, -10], [-0.7, 0, 0, 50], [0, -0.7, 0, 80], [0, 0, 0, 1]])
    meta = {"manufacturer": "Philips Medical Systems", "series_description": "t2 mese"}
    data = np.rint(rng.uniform(0, 3000, (6, 5, 3, len(te))))
    return MultiEchoSeries(data, te, affine, meta)


def _per_echo(series, folder, order=None):
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for e in order if order is not None else range(series.n_echoes):
        path = save_map(series.data[..., e], series.affine, folder / f"echo-{e + 1}_mese.nii.gz")
        side = {"EchoTime": series.echo_times_ms[e] / 1000.0, "Manufacturer": "Philips"}
        (folder / f"echo-{e + 1}_mese.json").write_text(json.dumps(side))
        files.append(path)
    return files


def test_4d_nifti_file(tmp_path):
    s = _series()
    path = save_nifti_series(s, tmp_path / "mese.nii.gz")
    back = load_series(path)
    np.testing.assert_array_equal(back.data, s.data)
    np.testing.assert_allclose(back.echo_times_ms, s.echo_times_ms)
    np.testing.assert_allclose(back.affine, s.affine)
    (info,) = find_series(path)
    assert (info.n_echoes, info.matrix, info.n_slices) == (4, (6, 5), 3)
    assert info.voxel_size_mm == pytest.approx((0.7, 0.7, 4.0))
    assert info.orientation == "sagittal" and info.description == "t2 mese"


def test_one_nifti_per_echo_in_any_order(tmp_path):
    s = _series(1)
    files = _per_echo(s, tmp_path / "echoes", order=[2, 0, 3, 1])
    for source in (files, tmp_path / "echoes"):
        back = load_series(source)
        np.testing.assert_allclose(back.echo_times_ms, s.echo_times_ms)
        np.testing.assert_array_equal(back.data, s.data)
        np.testing.assert_allclose(back.affine, s.affine)
        assert back.meta["vendor"] == "philips"
    (info,) = find_series(tmp_path / "echoes")
    assert info.n_echoes == 4 and info.n_files == 4


def test_per_echo_refusals(tmp_path):
    s = _series(2)
    files = _per_echo(s, tmp_path)
    (tmp_path / "echo-3_mese.json").write_text(json.dumps({"EchoTime": 0.024}))
    with pytest.raises(EchoTimeError, match=r"echo-.*_mese\.nii\.gz: duplicate echo time 24 ms"):
        load_nifti_echoes(files)
    (tmp_path / "echo-3_mese.json").write_text(json.dumps({"EchoTime": 36}))
    with pytest.raises(EchoTimeError, match=r"look like milliseconds"):
        load_nifti_echoes(files)
    (tmp_path / "echo-3_mese.json").unlink()
    with pytest.raises(EchoTimeError, match=r"echo-3_mese\.nii\.gz: no JSON sidecar"):
        load_nifti_echoes(files)
    with pytest.raises(EchoTimeError, match=r"a single echo"):
        load_series(files[:1])
    with pytest.raises(EchoTimeError, match=r"echo-1_mese\.nii\.gz: a 3-D NIfTI holds a single"):
        load_series(files[0])


def test_per_echo_grids_must_agree(tmp_path):
    s = _series(3)
    files = _per_echo(s, tmp_path)
    save_map(s.data[..., 1], s.affine @ np.diag([1, 1, 1.1, 1]), files[1])
    with pytest.raises(InputError, match=r"echo-2_mese\.nii\.gz: its affine differs"):
        load_series(files)
    save_map(s.data[:4, ..., 1], s.affine, files[1])
    with pytest.raises(ShapeMismatchError, match=r"echo-2_mese\.nii\.gz: shape \(4, 5, 3\)"):
        load_series(files)


def test_folder_of_several_4d_files(tmp_path):
    save_nifti_series(_series(4), tmp_path / "visit1_mese.nii.gz")
    save_nifti_series(_series(5), tmp_path / "visit2_mese.nii.gz")
    with pytest.raises(InputError, match=r"several 4-D NIfTI files .*visit1_mese\.nii\.gz"):
        load_series(tmp_path)
    back = load_series(tmp_path, series="visit2")
    np.testing.assert_array_equal(back.data, _series(5).data)
    assert len(find_series(tmp_path)) == 2


def test_dicom_wins_over_nifti_in_one_folder(tmp_path):
    dicom = _series(6)
    write_dicom_series(dicom, tmp_path / "dicom", vendor="ge", uid_seed="d")
    save_nifti_series(_series(7), tmp_path / "other.nii.gz")
    back = load_series(tmp_path)
    np.testing.assert_array_equal(back.data, dicom.data)
    assert back.meta["format"] == "dicom"


def test_mixed_list_and_unknown_option(tmp_path):
    s = _series(8)
    nifti = save_nifti_series(s, tmp_path / "a.nii.gz")
    dicom = write_dicom_series(s, tmp_path / "d", vendor="ge", uid_seed="m")
    with pytest.raises(InputError, match="mixing NIfTI and DICOM"):
        load_series([nifti, dicom[0]])
    with pytest.raises(TypeError, match="unknown options"):
        load_series(tmp_path / "d", intesity="fp")
    with pytest.raises(InputError, match="empty list"):
        load_series([])
