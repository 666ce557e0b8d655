import json

import numpy as np
import pytest
from _helpers import add_widget
from conftest import PLUGIN
from napari_disct2._exam import exam_of, role_of
from napari_disct2._reader import napari_get_reader

from discT2 import DiscROIs, load_discs, load_series, measure, sample_study
from discT2.cli import main
from discT2.io import save_nifti_series

PATIENT_FIELDS = ("PHANTOM^", "SYN-PHI-")


def _no_patient_fields(layer):
    text = json.dumps({k: v for k, v in layer.metadata.items() if k != "discT2"}, default=str)
    assert not any(f in text for f in PATIENT_FIELDS), text


@pytest.fixture(scope="module")
def fitted_folder(tmp_path_factory, truth_discs):
    """``discT2 fit`` and ``discT2 rois`` outputs of the sample's first exam (the CLI's files)."""
    from napari_disct2._sample_data import sample_paths

    dicom = sample_paths()[0][2]
    out = tmp_path_factory.mktemp("exam")
    assert main(["fit", str(dicom), "-o", str(out), "--quiet"]) == 0
    discs = sample_study() / "S01" / "baseline" / "truth" / "discs.json"
    assert main(["rois", str(out), "--discs", str(discs), "-o", str(out / "rois")]) == 0
    return out


def test_what_the_reader_takes_and_what_it_leaves(tmp_path, fitted_folder):
    from napari_disct2._sample_data import sample_paths

    dicom = sample_paths()[0][2]
    assert napari_get_reader(str(dicom)) is not None
    assert napari_get_reader(str(next(dicom.iterdir()))) is not None  # one DICOM file
    assert napari_get_reader(str(fitted_folder)) is not None
    assert napari_get_reader(str(fitted_folder / "rois")) is not None
    (tmp_path / "notes.txt").write_text("not an image")
    assert napari_get_reader(str(tmp_path / "notes.txt")) is None
    assert napari_get_reader(str(tmp_path)) is None  # a folder of other files
    assert napari_get_reader(str(fitted_folder / "t2.nii.gz")) is None  # 3-D: not a series
    assert napari_get_reader([str(dicom), str(dicom)]) is None
    assert napari_get_reader(str(tmp_path / "missing")) is None


@pytest.mark.parametrize("subject", ["S01", "S04"])  # classic files, one enhanced multi-frame file
def test_dicom_opens_as_an_echo_stack_on_the_display_frame(make_napari_viewer, subject):
    viewer = make_napari_viewer()
    path = sample_study() / subject / "baseline" / "dicom"
    if subject == "S04":
        path = next(path.iterdir())
    layers = viewer.open(str(path), plugin=PLUGIN)
    assert len(layers) == 1
    layer = layers[0]
    series = load_series(path)
    exam = exam_of(layer)
    assert role_of(layer) == "echoes"
    assert layer.data.shape == (10, 3, 120, 96)  # echo, slice, rows (S->I), columns (A->P)
    np.testing.assert_array_equal(layer.data, np.moveaxis(exam.frame.to_display(series.data), 3, 0))
    np.testing.assert_allclose(layer.scale, [1.0, 4.4, 1.875, 1.875])
    np.testing.assert_allclose(layer.metadata["echo_times_ms"], series.echo_times_ms)
    assert layer.metadata["series_meta"]["series_description"] == series.meta["series_description"]
    _no_patient_fields(layer)
    # Superior is up and anterior left: the first row is the most superior, the first column the
    # most anterior.
    top = exam.layer_to_ras([[1, 0, 50]])[0]
    bottom = exam.layer_to_ras([[1, 119, 50]])[0]
    left = exam.layer_to_ras([[1, 60, 0]])[0]
    right = exam.layer_to_ras([[1, 60, 95]])[0]
    assert top[2] > bottom[2] and left[1] > right[1]


def test_a_nifti_series_with_its_sidecar(make_napari_viewer, tmp_path):
    from napari_disct2._sample_data import sample_paths

    series = load_series(sample_paths()[0][2])
    path = save_nifti_series(series, tmp_path / "echoes.nii.gz")
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(path), plugin=PLUGIN)
    exam = exam_of(layer)
    np.testing.assert_allclose(exam.frame.affine, series.affine, atol=1e-4)
    np.testing.assert_allclose(np.moveaxis(layer.data, 0, 3), exam.frame.to_display(series.data))


def test_an_output_folder_opens_as_t2_map_and_rois(make_napari_viewer, qtbot, fitted_folder):
    from discT2 import T2Map

    viewer = make_napari_viewer(show=True)
    layers = viewer.open(str(fitted_folder), plugin=PLUGIN)
    roles = [role_of(layer) for layer in layers]
    assert roles == ["t2", "s0", "t2_sd", "rois"]
    exam = exam_of(layers[0])
    t2map = T2Map.load(fitted_folder)
    rois = DiscROIs.load(fitted_folder / "rois")
    np.testing.assert_array_equal(layers[0].data, exam.frame.to_display(t2map.t2_ms))
    np.testing.assert_array_equal(exam.frame.from_display(layers[3].data), rois.labels)
    assert layers[0].colormap.name == "navia"
    assert tuple(layers[0].contrast_limits) == (0.0, 200.0)
    assert list(exam.session.discs) == [d.level for d in load_discs(fitted_folder / "rois")]
    widget = add_widget(viewer, qtbot, "Disc ROIs")
    assert widget.exam is exam
    table = measure(t2map, rois)
    assert [r[:3] for r in widget.stats_table.texts()] == [
        [r.level, r.roi, str(r.n_voxels)] for r in table.itertuples()
    ]


def test_ras_to_layer_to_ras_is_exact_through_napari_transforms(make_napari_viewer):
    from _helpers import open_sample

    viewer = make_napari_viewer()
    exam = open_sample(viewer)
    (t2,) = [layer for layer in viewer.layers if role_of(layer) == "t2"]
    rng = np.random.default_rng(3)
    for offset in (np.zeros(3), np.array([2.2, 0.0, 250.0])):  # also beside another exam
        exam.offset_mm = offset
        t2.translate = tuple(exam.translate)
        for k in range(exam.n_slices):
            d = np.column_stack([np.full(20, k), rng.uniform(0, 119, 20), rng.uniform(0, 95, 20)])
            ras = exam.frame.display_to_ras(d)  # points on slice k
            world = [t2.data_to_world(p) for p in exam.ras_to_layer(ras)]
            back = exam.layer_to_ras(np.array([t2.world_to_data(w) for w in world]))
            np.testing.assert_allclose(back, ras, atol=1e-9)
            # The slice a world point shows is the slice the point lies on.
            assert {exam.world_slice(w) for w in world} == {k}


def test_a_folder_with_two_series_opens_both(make_napari_viewer, tmp_path):
    import shutil

    for subject in ("S01", "S02"):
        shutil.copytree(sample_study() / subject / "baseline" / "dicom", tmp_path / subject)
    viewer = make_napari_viewer()
    layers = viewer.open(str(tmp_path), plugin=PLUGIN)
    exams = [exam_of(layer) for layer in layers]
    assert len(exams) == 2 and exams[0] is not exams[1]
    assert exams[0].key != exams[1].key  # separate autosaves
    uids = {e.series.meta["series_instance_uid"] for e in exams}
    assert uids == {
        load_series(sample_study() / s / "baseline" / "dicom").meta["series_instance_uid"]
        for s in ("S01", "S02")
    }


def test_dicom_results_open_as_maps_with_units_and_labels(
    make_napari_viewer, tmp_path, fitted_folder
):
    from discT2 import T2Map

    dicom = tmp_path / "dicom"
    argv = [
        "measure",
        str(fitted_folder),
        str(fitted_folder / "rois"),
        "-o",
        str(tmp_path / "m.csv"),
    ]
    assert main([*argv, "--dicom-out", str(dicom)]) == 0
    assert napari_get_reader(str(dicom)) is not None
    assert napari_get_reader(str(dicom / "rois.seg.dcm")) is not None
    viewer = make_napari_viewer()
    layers = viewer.open(str(dicom), plugin=PLUGIN)
    assert [role_of(layer) for layer in layers] == ["t2", "s0", "t2_sd", "rois"]
    assert [layer.metadata.get("unit") for layer in layers[:3]] == ["ms", "1", "ms"]
    exam = exam_of(layers[0])
    t2map = T2Map.load(fitted_folder)
    np.testing.assert_array_equal(layers[0].data, exam.frame.to_display(t2map.t2_ms))
    rois = DiscROIs.load(fitted_folder / "rois")
    np.testing.assert_array_equal(exam.frame.from_display(layers[3].data), rois.labels)
    for layer in layers:
        _no_patient_fields(layer)
    (seg,) = viewer.open(str(dicom / "rois.seg.dcm"), plugin=PLUGIN)
    assert role_of(seg) == "rois"
    stored = np.flatnonzero(rois.labels.any(axis=(0, 1)))  # alone: the slices with an ROI
    np.testing.assert_array_equal(
        exam_of(seg).frame.from_display(seg.data), rois.labels[:, :, stored[0] : stored[-1] + 1]
    )
