"""A regular (non-editable) install carries the zoo: catalog, nested shipped folders, card template.

Builds a wheel from a copy of the sources (plus a fake shipped pipeline two folders deep,
as zoo names are "<dataset>-<noise>/<method>-<scheme>"), installs it into a scratch
folder and imports it from there in a fresh interpreter.  ~3 s, no network.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_catalog_nested_pipelines_and_model_card_template(tmp_path):
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "MODEL_CARD.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("keras_voidseg", "cli", "zoo"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shipped = src / "zoo" / "pipelines" / "synth-n10" / "unet-baseline"
    (shipped / "nested").mkdir(parents=True, exist_ok=True)
    (shipped / "config.json").write_text(json.dumps({"keras_voidseg_pipeline": 1}))
    (shipped / "seg.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    (shipped / "nested" / "README.md").write_text("# card")

    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"),
         str(src)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    wheel = next((tmp_path / "dist").glob("*.whl"))
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(tmp_path / "site"), str(wheel)],
        capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr

    code = (
        "import sys, zoo, keras_voidseg.model_card as mc, keras_voidseg.hub as hub\n"
        "folder = zoo.shipped_path('synth-n10/unet-baseline')\n"
        "assert zoo.__file__.startswith(sys.argv[1]), zoo.__file__\n"
        "assert zoo.load_catalog() is not None\n"
        "assert hub.is_pipeline_folder(folder), folder\n"
        "assert hub.pipeline_files(folder) == ['config.json', 'nested/README.md', 'seg.weights.h5']\n"
        "assert 'library_name: keras' in mc.render_model_card({'metrics': {'ap': 0.5}})\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "site")], capture_output=True, text=True,
                         cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stdout + run.stderr
