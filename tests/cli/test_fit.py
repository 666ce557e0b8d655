"""``discT2 fit`` on NIfTI series (the DICOM loader is tested with its own module)."""

import json

import nibabel as nib
import numpy as np
import pytest

from discT2 import MultiEchoSeries, T2Map
from discT2.cli import main
from discT2.io import save_map, save_nifti_series

TE = np.arange(1, 11) * 12.0


@pytest.fixture
def series_path(tmp_path):
    rng = np.random.default_rng(3)
    t2 = np.zeros((12, 10, 3))
    t2[3:9, 2:8] = np.linspace(40, 160, 36).reshape(6, 6)[:, :, None]
    truth = np.where(t2[..., None] > 0, 800.0 * np.exp(-TE / np.where(t2 > 0, t2, 1)[..., None]), 0)
    noise = rng.normal(0, 2, truth.shape) + 1j * rng.normal(0, 2, truth.shape)
    affine = np.array([[0, 0, -4.0, 30], [-0.8, 0, 0, 10], [0, -0.8, 0, 60], [0, 0, 0, 1]])
    meta = {"refocusing_angle_deg": 180.0, "series_description": "T2 map MESE"}
    series = MultiEchoSeries(np.abs(truth + noise), TE, affine, meta)
    path = save_nifti_series(series, tmp_path / "mese.nii.gz")
    return path, t2, affine


@pytest.mark.parametrize("method", ["loglinear", "nlls", "offset", "ncexp", "epg"])
def test_writes_the_maps_on_the_series_grid(method, series_path, tmp_path):
    path, t2, affine = series_path
    out = tmp_path / "out"
    assert main(["fit", str(path), "-o", str(out), "--method", method, "--workers", "2"]) == 0
    names = {"t2.nii.gz", "s0.nii.gz", "t2_sd.nii.gz", "r2.nii.gz", "flags.nii.gz", "fit.json"}
    assert names <= {p.name for p in out.iterdir()}
    assert (out / "b1.nii.gz").exists() == (method == "epg")
    assert (out / "offset.nii.gz").exists() == (method == "offset")
    img = nib.load(out / "t2.nii.gz")
    assert img.get_data_dtype() == np.float32
    np.testing.assert_allclose(img.affine, affine, atol=1e-5)
    fitted = T2Map.load(out)
    inside = t2 > 0
    tolerance = 0.2 if method == "offset" else 0.05  # offset: 3 parameters, 10 echoes
    np.testing.assert_allclose(fitted.t2_ms[inside], t2[inside], rtol=tolerance)
    assert np.all(np.isnan(fitted.t2_ms[~inside]))  # background masked, never 0
    prov = json.loads((out / "fit.json").read_text())["provenance"]
    assert prov["method"] == method
    assert prov["mask"] == "auto"
    assert prov["source"] == str(path)


def test_options_reach_the_model(series_path, tmp_path):
    path, t2, _ = series_path
    out = tmp_path / "o"
    mask = np.zeros(t2.shape, np.uint8)
    mask[4, 4, 1] = 1
    mask_path = save_map(mask, series_path[2], tmp_path / "m.nii.gz", dtype=np.uint8)
    argv = [
        "fit", str(path), "-o", str(out), "--skip-first-echo", "--max-te", "100",
        "--t2-bounds", "2", "3000", "--mask", str(mask_path), "--sigma", "2.0", "--quiet",
    ]  # fmt: skip
    assert main(argv) == 0
    prov = json.loads((out / "fit.json").read_text())["provenance"]
    assert prov["echo_times_used_ms"] == TE[1:8].tolist()
    assert prov["t2_bounds_ms"] == [2.0, 3000.0]
    assert prov["sigma_used"] == 2.0
    assert prov["n_fitted"] == 1


def test_epg_options(series_path, tmp_path):
    path = series_path[0]
    out = tmp_path / "e"
    argv = ["fit", str(path), "-o", str(out), "--method", "epg", "--slice-profile", "sinc",
            "--t1-ms", "1200", "--refocusing-deg", "160"]  # fmt: skip
    assert main(argv) == 0
    prov = json.loads((out / "fit.json").read_text())["provenance"]
    assert prov["t1_ms_assumed"] == 1200.0
    assert prov["refocusing_deg_used"] == 160.0
    assert prov["options"]["epg"]["slice_profile"]["refocusing"]
    assert prov["slice_profile_used"] == "given"


def test_default_fit_is_the_epg_model_and_says_what_it_assumed(series_path, tmp_path, capsys):
    path = series_path[0]
    out = tmp_path / "d"
    assert main(["fit", str(path), "-o", str(out)]) == 0
    prov = json.loads((out / "fit.json").read_text())["provenance"]
    assert prov["method"] == "epg"
    assert prov["b1_mode"] == "smooth"
    assert prov["t1_ms_assumed"] == 1000.0
    assert prov["refocusing_source"]
    assert prov["options"]["epg"]["b1"] == "smooth"
    assert (out / "b1.nii.gz").exists()
    err = capsys.readouterr().err
    assert "epg: refocusing 180 deg (series metadata)" in err and "B1 smooth" in err


def test_t1_map_and_b1_options(series_path, tmp_path, capsys):
    path, _, _ = series_path
    out = tmp_path / "t1"
    assert main(["fit", str(path), "-o", str(out), "--b1", "0.9", "--quiet"]) == 0
    prov = json.loads((out / "fit.json").read_text())["provenance"]
    assert prov["b1_mode"] == "fixed"
    assert main(["fit", str(path), "-o", str(out), "--b1", "strong"]) == 2
    assert "--b1 must be" in capsys.readouterr().err
    assert main(["fit", str(path), "-o", str(out), "--t1-ms", str(tmp_path / "no.nii.gz")]) == 2


def test_errors_exit_2_with_a_message(series_path, tmp_path, capsys):
    path, _, _ = series_path
    assert main(["fit", str(tmp_path / "nope.nii.gz"), "-o", str(tmp_path / "x")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["fit", str(path), "-o", str(tmp_path / "x"), "--max-te", "20"]) == 2
    assert "echoes left" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["fit", str(path), "-o", str(tmp_path / "x"), "--method", "bogus"])


def test_progress_bar_only_on_a_terminal(series_path, tmp_path, capsys, monkeypatch):
    path, _, _ = series_path
    assert main(["fit", str(path), "-o", str(tmp_path / "a")]) == 0
    assert "%|" not in capsys.readouterr().err
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    assert main(["fit", str(path), "-o", str(tmp_path / "b")]) == 0
    assert "%|" in capsys.readouterr().err
    assert main(["-q", "fit", str(path), "-o", str(tmp_path / "c")]) == 0
    assert "%|" not in capsys.readouterr().err
