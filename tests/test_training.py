"""Training loop: learning on a tiny problem, checkpoints/log files, and crash-safe resume
(a real training process is killed mid-epoch and the same call is repeated)."""

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.keras

keras = pytest.importorskip("keras")

from keras_voidseg.config import BackboneConfig, HeadConfig, TrainConfig  # noqa: E402
from keras_voidseg.data.datasets import PatchDataset  # noqa: E402
from keras_voidseg.models.losses import n2v_loss, three_class_loss  # noqa: E402
from keras_voidseg.models.targets import n2v_targets  # noqa: E402
from keras_voidseg.models.unet import build_unet  # noqa: E402
from keras_voidseg.training import fit, load_optimizer_state, read_state  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def disks(n, size=16, seed=0):
    """Noisy images of 1-2 bright disks and their labels (a tiny learnable problem)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    x = np.zeros((n, size, size), np.float32)
    y = np.zeros((n, size, size), np.int32)
    for i in range(n):
        for k in range(1, 3):
            cy, cx, r = rng.uniform(3, size - 3), rng.uniform(3, size - 3), rng.uniform(2.5, 4)
            y[i][((yy - cy) ** 2 + (xx - cx) ** 2 < r * r) & (y[i] == 0)] = k
        x[i] = (y[i] > 0) + 0.3 * rng.normal(size=(size, size))
    return x, y


def test_classes_onehot(y):
    """Test-local 3-class target: border = object pixel with a 4-neighbour of another label."""
    padded = np.pad(y, ((0, 0), (1, 1), (1, 1)), mode="edge")
    border = np.zeros(y.shape, bool)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        border |= padded[:, dy:dy + y.shape[1], dx:dx + y.shape[2]] != y
    classes = np.where(y > 0, np.where(border, 2, 1), 0)
    return np.eye(3, dtype=np.float32)[classes]


test_classes_onehot.__test__ = False  # a helper, not a test


def three_class_fn(x, y, rng):
    return x[..., None], test_classes_onehot(y)


def test_fit_learns_three_classes_and_writes_run_files(tmp_path):
    # no batch norm here: with ~60 steps BN's moving statistics (momentum 0.99) are still far
    # from the batch statistics, which would make the validation loss meaningless
    backbone = BackboneConfig(depth=2, base_filters=8, batch_norm=False)
    keras.utils.set_random_seed(0)
    config = TrainConfig(patch_size=16, batch_size=8, epochs=4, steps_per_epoch=16,
                         learning_rate=1e-2, plateau_patience=1)
    x, y = disks(64)
    xv, yv = disks(16, seed=1)
    train = PatchDataset(x, y, batch_size=8, steps_per_epoch=16, target_fn=three_class_fn, seed=0)
    val = PatchDataset(xv, yv, batch_size=8, target_fn=three_class_fn, augment=False, shuffle=False)
    model = build_unet(backbone, HeadConfig())
    loss = three_class_loss(config.class_weights)
    before = float(np.mean([keras.ops.convert_to_numpy(loss(t, model(i, training=False)))
                            for i, t in (val[0], val[1])]))
    history = fit(model, loss, train, val, config, tmp_path, verbose=0)
    assert len(history["loss"]) == len(history["val_loss"]) == len(history["lr"]) == 4
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert min(history["val_loss"]) < 0.6 * before
    # files: best checkpoint, log with one row per epoch, resume state, done marker
    for name in ("best.weights.h5", "log.csv", "state.json", "done.json"):
        assert (tmp_path / name).exists()
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    np.testing.assert_allclose([float(r["val_loss"]) for r in rows], history["val_loss"], rtol=1e-6)
    state = read_state(tmp_path)
    assert state["epochs_done"] == 4
    best = int(np.argmin(history["val_loss"]))
    assert state["best_epoch"] == best + 1
    # the model returned holds the best weights
    reloaded = build_unet(backbone, HeadConfig())
    reloaded.load_weights(tmp_path / "best.weights.h5")
    xb = val[0][0]
    np.testing.assert_allclose(model.predict(xb, verbose=0), reloaded.predict(xb, verbose=0), atol=1e-5)
    # plateau (patience 1): the lr is halved after every epoch without a new best val_loss
    expected_lr, lr, best_so_far = [], config.learning_rate, np.inf
    for value in history["val_loss"]:
        expected_lr.append(lr)
        if value < best_so_far:
            best_so_far = value
        else:
            lr *= config.plateau_factor
    np.testing.assert_allclose(history["lr"], expected_lr, rtol=1e-6)
    assert state["learning_rate"] == pytest.approx(lr, rel=1e-6)

    # a finished run returns at once without training
    class NoTraining(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            raise AssertionError("trained again")

    again = build_unet(backbone, HeadConfig())
    history2 = fit(again, loss, train, val, config, tmp_path, verbose=0,
                   extra_callbacks=[NoTraining()])
    assert history2 == json.loads(json.dumps(history))
    np.testing.assert_allclose(again.predict(xb, verbose=0), reloaded.predict(xb, verbose=0), atol=1e-5)
    # a different config in the same folder is refused, not silently mixed
    with pytest.raises(ValueError, match="different model, loss or TrainConfig"):
        fit(again, loss, train, val, config.replace(learning_rate=1e-3), tmp_path, verbose=0)


def test_fit_n2v_stage_runs_with_n2v_targets(tmp_path):
    keras.utils.set_random_seed(0)
    config = TrainConfig(patch_size=16, batch_size=4, epochs=2, steps_per_epoch=3,
                         n2v_masked_fraction=0.05)
    x, _ = disks(12)
    train = PatchDataset(x, None, batch_size=4, steps_per_epoch=3, target_fn=n2v_targets(config))
    model = build_unet(BackboneConfig(depth=1, base_filters=4), HeadConfig())
    history = fit(model, n2v_loss(), train, None, config, tmp_path, verbose=0)
    assert len(history["loss"]) == 2 and np.isfinite(history["loss"]).all()
    assert "val_loss" not in history


def test_fit_rejects_too_short_datasets(tmp_path):
    config = TrainConfig(patch_size=16, batch_size=4, epochs=1, steps_per_epoch=5)
    x, y = disks(8)
    train = PatchDataset(x, y, batch_size=4, steps_per_epoch=2, target_fn=three_class_fn)
    model = build_unet(BackboneConfig(depth=1, base_filters=4), HeadConfig())
    with pytest.raises(ValueError, match="steps_per_epoch=5"):
        fit(model, three_class_loss(), train, None, config, tmp_path, verbose=0)


# ------------------------------------------------------------------------------ resume
RUN_SCRIPT = textwrap.dedent("""
    import os, sys
    import numpy as np
    import keras
    sys.path.insert(0, os.environ["KVS_TEST_DIR"])
    from test_training import run_small_training
    run_small_training(sys.argv[1], kill_at_epoch=int(os.environ.get("KVS_KILL_AT_EPOCH", "-1")))
""")

RESUME_CONFIG = TrainConfig(patch_size=16, batch_size=4, epochs=4, steps_per_epoch=3,
                            learning_rate=5e-3, plateau_patience=1, augment=True, seed=3)


def run_small_training(out_dir, kill_at_epoch=-1):
    """The training the resume test runs (in a subprocess, and once in-process)."""

    class Killer(keras.callbacks.Callback):
        """Dies like a killed process (no clean-up) at batch 1 of epoch ``kill_at_epoch``."""

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == kill_at_epoch and batch == 1:
                os._exit(17)

    keras.utils.set_random_seed(RESUME_CONFIG.seed)
    x, y = disks(24, seed=5)
    xv, yv = disks(8, seed=6)
    train = PatchDataset(x, y, batch_size=4, steps_per_epoch=3, target_fn=three_class_fn, seed=1)
    val = PatchDataset(xv, yv, batch_size=4, target_fn=three_class_fn, shuffle=False, augment=False)
    model = build_unet(BackboneConfig(depth=1, base_filters=4), HeadConfig())
    fit(model, three_class_loss(), train, val, RESUME_CONFIG, out_dir, verbose=0,
        extra_callbacks=[Killer()])
    return model


def test_resume_after_kill_matches_an_uninterrupted_run(tmp_path):
    env = {**os.environ, "KVS_TEST_DIR": str(Path(__file__).parent), "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = tmp_path / "run"
    killed = subprocess.run([sys.executable, "-c", RUN_SCRIPT, str(out)], cwd=ROOT,
                            env={**env, "KVS_KILL_AT_EPOCH": "1"})
    assert killed.returncode == 17  # really died mid-epoch 2
    state = read_state(out)
    assert state["epochs_done"] == 1 and not (out / "done.json").exists()
    assert len(list(csv.DictReader(open(out / "log.csv")))) == 1
    assert len(list(out.glob("ckpt-*"))) == 2  # weights + optimizer of epoch 1 only

    resumed = subprocess.run([sys.executable, "-c", RUN_SCRIPT, str(out)], cwd=ROOT, env=env)
    assert resumed.returncode == 0
    state = read_state(out)
    assert state["epochs_done"] == RESUME_CONFIG.epochs
    assert json.loads((out / "done.json").read_text())["steps"] == RESUME_CONFIG.total_steps
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == list(range(1, RESUME_CONFIG.epochs + 1))
    assert len(list(out.glob("ckpt-*"))) == 2

    # the optimizer really continued: its step counter covers every step of the run
    model = build_unet(BackboneConfig(depth=1, base_filters=4), HeadConfig())
    optimizer = keras.optimizers.Adam()
    load_optimizer_state(optimizer, model, out / state["optimizer"])
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == RESUME_CONFIG.total_steps

    # and the result equals an uninterrupted run of the same call
    reference = run_small_training(tmp_path / "reference")
    ref_state = read_state(tmp_path / "reference")
    np.testing.assert_allclose(state["history"]["loss"], ref_state["history"]["loss"], rtol=1e-4)
    np.testing.assert_allclose(state["history"]["lr"], ref_state["history"]["lr"])
    model.load_weights(out / "best.weights.h5")
    xb = disks(2, seed=9)[0][..., None]
    np.testing.assert_allclose(model.predict(xb, verbose=0), reference.predict(xb, verbose=0),
                               atol=1e-4)
