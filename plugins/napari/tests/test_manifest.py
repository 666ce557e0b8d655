import subprocess
import sys
from pathlib import Path

import npe2
from conftest import PLUGIN

MANIFEST = Path(__file__).parents[1] / "src" / "napari_disct2" / "napari.yaml"


def test_manifest_is_valid_and_every_command_imports():
    manifest = npe2.PluginManifest.from_file(MANIFEST)
    assert manifest.name == PLUGIN
    for command in manifest.contributions.commands:
        assert callable(_resolve(command.python_name)), command.id


def test_npe2_validate_with_imports():
    npe2_cli = Path(sys.executable).with_name("npe2")
    result = subprocess.run(
        [str(npe2_cli), "validate", "--imports", PLUGIN],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_plugin_is_discovered_with_its_contributions():
    pm = npe2.PluginManager.instance()
    pm.discover()
    manifest = pm.get_manifest(PLUGIN)
    widgets = {w.display_name for w in manifest.contributions.widgets}
    assert widgets == {"Fit T2", "Disc ROIs", "Follow-up review"}
    assert {s.key for s in manifest.contributions.sample_data} == {"exam", "followup"}
    assert manifest.contributions.readers[0].accepts_directories


def _resolve(python_name: str):
    import importlib

    module, attr = python_name.split(":")
    return getattr(importlib.import_module(module), attr)
