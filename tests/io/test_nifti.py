import json

import numpy as np
import pytest

from discT2 import EchoTimeError, MultiEchoSeries, ShapeMismatchError
from discT2.io import load_nifti_series, save_nifti_series, vendor_name


def _series():
    rng = np.random.default_rng(1)
    affine = np.array([[0, 0, 4.0, -10], [-0.7, 0, 0, 50], [0, -0.7, 0, 80], [0, 0, 0, 1]])
    meta = {"manufacturer": "SIEMENS", "repetition_time_ms": 2000.0, "series_description": "t2 map"}
    return MultiEchoSeries(rng.uniform(0, 1000, (6, 5, 3, 4)), [12, 24, 36, 48], affine, meta)


def test_round_trip_with_bids_sidecar(tmp_path):
    s = _series()
    path = save_nifti_series(s, tmp_path / "mese.nii.gz")
    side = json.loads((tmp_path / "mese.json").read_text())
    np.testing.assert_allclose(side["EchoTime"], [0.012, 0.024, 0.036, 0.048])
    assert side["RepetitionTime"] == pytest.approx(2.0)
    back = load_nifti_series(path)
    np.testing.assert_array_equal(back.data, s.data)
    np.testing.assert_allclose(back.echo_times_ms, s.echo_times_ms)
    np.testing.assert_allclose(back.affine, s.affine)
    assert back.meta["repetition_time_ms"] == pytest.approx(2000.0)
    assert back.meta["vendor"] == "siemens"
    assert back.meta["format"] == "nifti"


def test_missing_sidecar_is_named(tmp_path):
    s = _series()
    path = save_nifti_series(s, tmp_path / "a.nii.gz")
    (tmp_path / "a.json").unlink()
    with pytest.raises(EchoTimeError, match=r"a\.nii\.gz: no JSON sidecar a\.json"):
        load_nifti_series(path)


def test_echo_count_mismatch(tmp_path):
    path = save_nifti_series(_series(), tmp_path / "a.nii")
    (tmp_path / "a.json").write_text(json.dumps({"EchoTime": [0.01, 0.02]}))
    with pytest.raises(EchoTimeError, match=r"2 values but a\.nii has 4 volumes"):
        load_nifti_series(path)


def test_3d_file_is_refused(tmp_path):
    from discT2.io import save_map

    save_map(np.ones((3, 3, 3)), np.eye(4), tmp_path / "m.nii.gz")
    with pytest.raises(ShapeMismatchError, match="4-D"):
        load_nifti_series(tmp_path / "m.nii.gz")


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("SIEMENS", "siemens"),
        ("GE MEDICAL SYSTEMS", "ge"),
        ("Philips Medical Systems", "philips"),
        ("Philips", "philips"),
        ("Canon_MEC", "canon_mec"),
    ],
)
def test_vendor_names(raw, name):
    assert vendor_name(raw) == name
