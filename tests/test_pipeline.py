"""Schemes, Pipeline and the train/predict/denoise CLI, trained for real (smoke preset).

Every scheme of both methods trains and predicts here; a pipeline saved under this backend
loads under the other one with the same probabilities and labels; tiled and untiled
prediction agree on a 512x512 image.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tifffile

pytestmark = pytest.mark.keras

keras = pytest.importorskip("keras")

from cli.main import main  # noqa: E402
from keras_voidseg.experiment import prepare_data  # noqa: E402
from keras_voidseg.hub import is_pipeline_folder  # noqa: E402
from keras_voidseg.pipeline import Pipeline  # noqa: E402
from keras_voidseg.schemes import SCHEME_SPECS  # noqa: E402
from keras_voidseg.workflow import train_pipeline, train_preset  # noqa: E402

CASES = [("unet", s) for s in SCHEME_SPECS] + [("stardist", s) for s in SCHEME_SPECS if s != "joint"]


@pytest.fixture(scope="module")
def data():
    return prepare_data("synthetic", 200, seed=0, preset="smoke")


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    preset = train_preset("smoke")
    pipes = {case: train_pipeline(data, *case, "P3", preset, root / "-".join(case), verbose=0) for case in CASES}
    return root, pipes


@pytest.mark.parametrize("case", CASES, ids=["-".join(c) for c in CASES])
def test_every_scheme_trains_and_predicts(trained, data, case):
    root, pipes = trained
    pipe = pipes[case]
    folder = root / "-".join(case)
    assert is_pipeline_folder(folder)
    for name in ("config.json", "segmenter.weights.h5", "thresholds.json", "metrics.json", "metadata.json", "README.md"):
        assert (folder / name).is_file(), name
    assert (folder / "denoiser.weights.h5").is_file() == (case[1] in ("sequential", "finetune-sequential"))
    log = (folder / "train" / "log.csv").read_text().splitlines()
    assert len(log) == 1 + pipe.config.train.epochs  # really trained, epoch by epoch
    metrics = json.loads((folder / "metrics.json").read_text())
    assert 0.0 <= metrics["ap"] <= 1.0 and 0.0 <= metrics["seg"] <= 1.0 and metrics["split"] == "test"
    image = data.raw[int(data.splits["test"][0])]
    labels, details = pipe.predict_instances(image)
    assert labels.shape == image.shape and labels.dtype == np.int32
    loaded = Pipeline.from_folder(folder)
    np.testing.assert_array_equal(loaded.predict_instances(image)[0], labels)
    assert loaded.thresholds == pipe.thresholds


def test_shared_denoiser_is_trained_once_and_finetune_starts_from_it(trained, data):
    root, pipes = trained
    shared = [p for p in root.iterdir() if p.name.startswith("n2v-")]
    assert len(shared) == 1
    denoiser = Pipeline.from_folder(shared[0] / "pipeline")
    assert denoiser.task == "denoising"
    clean = denoiser.denoise(data.raw[0])
    assert clean.shape == data.raw[0].shape and np.isfinite(clean).all()
    sequential = pipes[("unet", "sequential")]
    np.testing.assert_allclose(sequential.denoise(data.raw[0]), clean, atol=1e-3)


@pytest.mark.parametrize("case", [("unet", "baseline"), ("stardist", "baseline")])
def test_tiled_and_untiled_prediction_agree_on_512(trained, case):
    from keras_voidseg.data.noise import add_gaussian_noise
    from keras_voidseg.data.synthetic import synthesize
    from keras_voidseg.metrics import matching

    pipe = trained[1][case]
    image = add_gaussian_noise(synthesize(512, seed=9)[0], 200, seed=1)
    whole = pipe.predict_probabilities(image, n_tiles=(1, 1))
    tiled = pipe.predict_probabilities(image, n_tiles=(3, 2))
    for key in whole:
        np.testing.assert_allclose(tiled[key], whole[key], atol=1e-4)
    kw = {"prob_thresh": 0.4, "nms_thresh": 0.4} if case[0] == "stardist" else {"fg_thresh": 0.4}
    labels_tiled = pipe.instances_from_probabilities(tiled, **kw)[0]
    labels_whole = pipe.instances_from_probabilities(whole, **kw)[0]
    if case[0] == "unet":
        np.testing.assert_array_equal(labels_tiled, labels_whole)
    else:  # float32 ties between equal probabilities may reorder NMS candidates
        assert matching(labels_whole, labels_tiled, thresh=0.5).ap > 0.95


_OTHER = textwrap.dedent("""
    import os, sys, json
    os.environ["KERAS_BACKEND"] = sys.argv[1]
    import numpy as np
    from keras_voidseg.pipeline import Pipeline
    pipe = Pipeline.from_folder(sys.argv[2])
    image = np.load(sys.argv[3])
    probs = pipe.predict_probabilities(image)
    labels, _ = pipe.instances_from_probabilities(probs)
    np.savez(sys.argv[4], labels=labels, **probs)
""")


@pytest.mark.parametrize("case", [("unet", "sequential"), ("stardist", "finetune-sequential")])
def test_pipeline_saved_here_loads_under_the_other_backend(trained, data, tmp_path, case):
    this = keras.backend.backend()
    other = {"tensorflow": "torch", "torch": "tensorflow"}.get(this)
    if other is None:
        pytest.skip(f"no partner backend for {this}")
    pipe = trained[1][case]
    image = data.raw[int(data.splits["test"][0])]
    np.save(tmp_path / "x.npy", image)
    env = {**os.environ, "KERAS_BACKEND": other}
    subprocess.run([sys.executable, "-c", _OTHER, other, str(trained[0] / "-".join(case)), str(tmp_path / "x.npy"),
                    str(tmp_path / "y.npz")], check=True, env=env)
    theirs = np.load(tmp_path / "y.npz")
    probs = pipe.predict_probabilities(image)
    for key, value in probs.items():
        np.testing.assert_allclose(theirs[key], value, atol=1e-4)
    ours = pipe.instances_from_probabilities(probs)[0]
    if case[0] == "unet":
        np.testing.assert_array_equal(theirs["labels"], ours)
    else:  # same objects pixel for pixel; ids are candidate ranks, which float ties may swap
        from keras_voidseg.metrics import matching

        assert matching(ours, theirs["labels"], thresh=1.0).ap == 1.0


def test_resuming_a_finished_run_does_not_retrain(trained, data):
    root, pipes = trained
    folder = root / "unet-baseline"
    stamp = (folder / "train" / "done.json").stat().st_mtime_ns
    again = train_pipeline(data, "unet", "baseline", "P3", train_preset("smoke"), folder, verbose=0)
    assert (folder / "train" / "done.json").stat().st_mtime_ns == stamp
    assert again.metrics["ap"] == pipes[("unet", "baseline")].metrics["ap"]


def test_cli_train_predict_denoise_and_errors(tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["train", "--method", "unet", "--scheme", "sequential", "--preset", "smoke", "--subset", "P2",
                 "--out", str(out), "--quiet"]) == 0
    assert "test AP@0.5" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["pipeline"]["scheme"] == "sequential"
    image = np.random.default_rng(0).normal(120, 40, (80, 72)).astype(np.float32)
    tifffile.imwrite(tmp_path / "a.tif", image)
    assert main(["predict", str(out), str(tmp_path / "a.tif"), "--out", str(tmp_path / "pred")]) == 0
    labels = tifffile.imread(tmp_path / "pred" / "a.labels.tif")
    assert labels.shape == image.shape and (tmp_path / "pred" / "a.overlay.png").is_file()
    assert main(["denoise", str(out), str(tmp_path / "a.tif"), "--out", str(tmp_path / "den")]) == 0
    assert tifffile.imread(tmp_path / "den" / "a.denoised.tif").shape == image.shape
    capsys.readouterr()

    assert main(["train", "--subset", "P11", "--preset", "smoke", "--out", str(tmp_path / "x")]) == 1
    assert "P11" in capsys.readouterr().err
    assert main(["train", "--scheme", "joint", "--method", "stardist", "--preset", "smoke", "--out", str(tmp_path / "x")]) == 1
    assert "joint" in capsys.readouterr().err
    assert main(["train", "--scheme", "nonsense", "--out", str(tmp_path / "x")]) == 2
    (tmp_path / "notapipe").mkdir()
    assert main(["predict", str(tmp_path / "notapipe"), str(tmp_path / "a.tif"), "--out", str(tmp_path / "p")]) == 1
    assert "config.json" in capsys.readouterr().err
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((3, 2, 16, 16), np.uint8))
    assert main(["predict", str(out), str(tmp_path / "stack.tif"), "--out", str(tmp_path / "p")]) == 1
    err = capsys.readouterr().err
    assert "stack.tif" in err and "Traceback" not in err
    assert main(["predict", str(out), str(tmp_path / "missing.tif"), "--out", str(tmp_path / "p")]) == 2
