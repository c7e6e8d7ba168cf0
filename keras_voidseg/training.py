"""Training loop with crash-safe resume: ``fit(model, loss, train, val, config, out_dir)``.

Adam with the config's learning rate, reduce-on-plateau on ``val_loss`` (factor and patience
from the config), ``epochs x steps_per_epoch`` steps with validation after every epoch, a
best-weights checkpoint, a CSV log and Keras' progress bar.

Files in ``out_dir`` (every one written to a temporary name and ``os.replace``-d, so a kill
at any moment leaves either the old or the new complete file):

``best.weights.h5``      weights of the epoch with the lowest ``val_loss`` so far
``ckpt-NNNN.weights.h5`` weights after the last completed epoch ``NNNN`` (resume point)
``ckpt-NNNN.optimizer.npz`` Adam's variables (iteration count, moments, lr) at that point
``state.json``           the commit record: completed epochs, current lr, plateau wait,
                         best ``val_loss``, the per-epoch history and the names of the
                         checkpoint files above; a checkpoint counts once ``state.json``
                         names it (older checkpoints are deleted only after that)
``log.csv``              one row per completed epoch (rewritten from ``state.json``)
``done.json``            written when all epochs are complete

Resume: calling ``fit`` again with the same arguments after an interruption restores the
weights, the optimizer and the plateau/best state of the last completed epoch and goes on
from the next epoch, so the run ends with the same number of epochs and optimizer steps as
an uninterrupted one.  On a finished ``out_dir`` the best weights are loaded and the
history returned without training.  ``resume=False`` starts afresh (overwriting the run).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

import keras
import numpy as np

from keras_voidseg.config import TrainConfig

BEST_WEIGHTS = "best.weights.h5"
STATE_FILE = "state.json"
DONE_FILE = "done.json"
LOG_FILE = "log.csv"
_CKPT_PREFIX = "ckpt-"


# ---------------------------------------------------------------------------- atomic files
def _atomic_write(path: Path, write, suffix: str = "") -> None:
    """Call ``write(tmp_path)`` on a temp file beside ``path``, fsync it, then os.replace."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _write_text(path: Path, text: str) -> None:
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)

    _atomic_write(path, write)


def _write_json(path: Path, data: Any) -> None:
    _write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _without_optimizer(model: keras.Model) -> list:
    optimizer = getattr(model, "optimizer", None)
    return [optimizer] if optimizer is not None else []


def save_weights_atomic(model: keras.Model, path: Path) -> None:
    """Save the model's weights (not the optimizer's) to ``path`` (``.weights.h5``) atomically.

    A compiled model's ``save_weights`` would also store the optimizer's moments (3x the
    size); those live in the resume checkpoint's npz instead.
    """
    from keras.src.saving import saving_lib

    def write(tmp):
        saving_lib.save_weights_only(model, tmp, objects_to_skip=_without_optimizer(model))

    _atomic_write(Path(path), write, suffix=".weights.h5")


def load_weights(model: keras.Model, path: Path) -> None:
    """Load a ``.weights.h5`` written by :func:`save_weights_atomic` (optimizer untouched)."""
    from keras.src.saving import saving_lib

    saving_lib.load_weights_only(model, str(path), objects_to_skip=_without_optimizer(model))


def save_optimizer_state(optimizer: keras.optimizers.Optimizer, path: Path) -> None:
    """Save the optimizer's variables (iterations, lr, moments) to an npz, atomically."""
    arrays = {f"v{i:05d}": keras.ops.convert_to_numpy(v) for i, v in enumerate(optimizer.variables)}

    def write(tmp):
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    _atomic_write(Path(path), write, suffix=".npz")


def load_optimizer_state(optimizer: keras.optimizers.Optimizer, model: keras.Model,
                         path: Path) -> None:
    """Build ``optimizer`` for ``model`` and assign the variables saved by save_optimizer_state."""
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    with np.load(path) as data:
        arrays = [data[k] for k in sorted(data.files)]
    variables = optimizer.variables
    if len(arrays) != len(variables):
        raise ValueError(
            f"{path}: holds {len(arrays)} optimizer variables but the optimizer has "
            f"{len(variables)}; the checkpoint belongs to a different model or optimizer"
        )
    for variable, value in zip(variables, arrays):
        if tuple(variable.shape) != value.shape:
            raise ValueError(
                f"{path}: optimizer variable {variable.path} has shape {tuple(variable.shape)} "
                f"but the checkpoint holds {value.shape}"
            )
        variable.assign(value.astype(variable.dtype))


# ----------------------------------------------------------------------------- run state
def _fingerprint(model: keras.Model, loss: Any, config: TrainConfig) -> dict:
    """What must not change between an interrupted run and its resumption."""
    loss_config = loss.get_config() if hasattr(loss, "get_config") else repr(loss)
    return {
        "train_config": json.loads(json.dumps(config.to_dict())),
        "n_params": int(model.count_params()),
        "n_weights": len(model.weights),
        "loss": json.loads(json.dumps({"class": type(loss).__name__, "config": loss_config},
                                      default=str)),
    }


def _fresh_state(fingerprint: dict, config: TrainConfig) -> dict:
    return {
        "fingerprint": fingerprint,
        "epochs_done": 0,
        "learning_rate": float(config.learning_rate),
        "plateau_wait": 0,
        "best_val_loss": None,
        "best_epoch": None,
        "history": {},
        "weights": None,
        "optimizer": None,
        "backend": keras.backend.backend(),
    }


def _write_log(out: Path, history: dict) -> None:
    keys = ["epoch"] + sorted(history)
    n = len(next(iter(history.values()))) if history else 0
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(keys)
    for i in range(n):
        writer.writerow([i + 1] + [history[k][i] for k in keys[1:]])
    _write_text(out / LOG_FILE, buffer.getvalue())


def read_state(out_dir) -> dict | None:
    """The committed ``state.json`` of a run, or None when there is none."""
    path = Path(out_dir) / STATE_FILE
    if not path.exists():
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _check_same_run(state: dict, fingerprint: dict, out: Path) -> None:
    if state.get("fingerprint") != fingerprint:
        raise ValueError(
            f"{out} holds a training run with a different model, loss or TrainConfig "
            f"(saved {state.get('fingerprint')}, now {fingerprint}); use a new out_dir, or "
            "resume=False to overwrite it"
        )


def _clear_run(out: Path) -> None:
    for path in out.iterdir():
        if path.name in (BEST_WEIGHTS, STATE_FILE, DONE_FILE, LOG_FILE) or (
            path.name.startswith(_CKPT_PREFIX)
        ):
            path.unlink()


# --------------------------------------------------------------------------- callbacks
class _SyncDataEpoch(keras.callbacks.Callback):
    """Tell epoch-aware datasets (``PatchDataset.set_epoch``) which epoch begins.

    Batches then depend only on (seed, epoch, batch index), not on how many times Keras
    called ``on_epoch_end`` before, so a resumed run sees the same batches as an
    uninterrupted one.  (``fit`` also passes ``shuffle=False`` to Keras: Keras' own batch
    shuffling draws from the global RNG, whose state a resumed process does not have.)
    """

    def __init__(self, *datasets):
        super().__init__()
        self.datasets = [d for d in datasets if hasattr(d, "set_epoch")]

    def on_epoch_begin(self, epoch, logs=None):
        for data in self.datasets:
            data.set_epoch(epoch)


class _EpochCommit(keras.callbacks.Callback):
    """After each epoch: plateau lr schedule, best checkpoint, resume checkpoint, log."""

    def __init__(self, out: Path, state: dict, config: TrainConfig, monitor: str):
        super().__init__()
        self.out = out
        self.state = state
        self.config = config
        self.monitor = monitor

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        state = self.state
        optimizer = self.model.optimizer
        lr = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        logs["lr"] = lr
        for key, value in logs.items():
            state["history"].setdefault(key, []).append(float(value))

        value = float(logs.get(self.monitor, math.nan))
        best = state["best_val_loss"]
        if math.isfinite(value) and (best is None or value < best):
            state["best_val_loss"], state["best_epoch"] = value, epoch + 1
            state["plateau_wait"] = 0
            save_weights_atomic(self.model, self.out / BEST_WEIGHTS)
        else:
            state["plateau_wait"] += 1
            if state["plateau_wait"] >= self.config.plateau_patience:
                new_lr = max(lr * self.config.plateau_factor, self.config.min_learning_rate)
                if new_lr < lr:
                    optimizer.learning_rate = new_lr
                    if self.params.get("verbose"):
                        print(f"\nEpoch {epoch + 1}: reducing learning rate to {new_lr:.3g}")
                state["plateau_wait"] = 0
        state["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))

        # resume checkpoint: new files first, then the commit record, then clean-up
        tag = f"{_CKPT_PREFIX}{epoch + 1:04d}"
        old = (state["weights"], state["optimizer"])
        state["weights"], state["optimizer"] = f"{tag}.weights.h5", f"{tag}.optimizer.npz"
        save_weights_atomic(self.model, self.out / state["weights"])
        save_optimizer_state(optimizer, self.out / state["optimizer"])
        state["epochs_done"] = epoch + 1
        _write_json(self.out / STATE_FILE, state)
        for name in old:
            if name and name not in (state["weights"], state["optimizer"]):
                (self.out / name).unlink(missing_ok=True)
        _write_log(self.out, state["history"])


# ---------------------------------------------------------------------------------- fit
def fit(model: keras.Model, loss: Any, train_data, val_data, train_config: TrainConfig,
        out_dir, *, resume: bool = True, verbose: int = 1,
        extra_callbacks: Iterable[keras.callbacks.Callback] = ()) -> dict:
    """Train ``model`` for ``train_config.epochs x steps_per_epoch`` steps, resumably.

    Args:
        model: an uncompiled (or compiled; it is recompiled) Keras model.
        loss: a Keras loss (e.g. from :mod:`keras_voidseg.models.losses`).
        train_data: a ``keras.utils.PyDataset`` (e.g. ``PatchDataset``) yielding
            ``(inputs, targets)`` with at least ``steps_per_epoch`` batches per epoch.
        val_data: a PyDataset for validation after every epoch, or None (then the
            plateau schedule and best checkpoint follow the training loss).
        train_config: learning rate, epochs, steps, plateau settings, seed.
        out_dir: folder for checkpoints and logs (created if needed).
        resume: continue an interrupted run in ``out_dir`` (or return a finished one);
            False discards whatever run ``out_dir`` holds.
        verbose: Keras progress output (0 silent, 1 progress bar, 2 one line per epoch).
        extra_callbacks: more Keras callbacks, run after ours.

    Returns:
        history: ``{"loss": [...], "val_loss": [...], "lr": [...]}`` over all epochs of the
        run (including those done before an interruption).  On return the model holds the
        best weights.
    """
    if not isinstance(train_config, TrainConfig):
        raise TypeError(f"train_config must be a TrainConfig, got {type(train_config).__name__}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if hasattr(train_data, "__len__") and len(train_data) < train_config.steps_per_epoch:
        raise ValueError(
            f"train_data has {len(train_data)} batches per epoch but "
            f"train_config.steps_per_epoch={train_config.steps_per_epoch}; build the dataset "
            f"with steps_per_epoch={train_config.steps_per_epoch}"
        )
    fingerprint = _fingerprint(model, loss, train_config)
    state = read_state(out) if resume else None
    if not resume:
        _clear_run(out)
    if state is not None:
        _check_same_run(state, fingerprint, out)
        if (out / DONE_FILE).exists() and state["epochs_done"] >= train_config.epochs:
            _load_final(model, out, state)
            return state["history"]

    keras.utils.set_random_seed(train_config.seed)
    optimizer = keras.optimizers.Adam(learning_rate=train_config.learning_rate)
    model.compile(optimizer=optimizer, loss=loss)
    if state is None:
        state = _fresh_state(fingerprint, train_config)
    elif state["weights"]:
        load_weights(model, out / state["weights"])
        load_optimizer_state(optimizer, model, out / state["optimizer"])
        optimizer.learning_rate = state["learning_rate"]
        _write_log(out, state["history"])

    monitor = "val_loss" if val_data is not None else "loss"
    callbacks = [_SyncDataEpoch(train_data, val_data),
                 _EpochCommit(out, state, train_config, monitor), *extra_callbacks]
    if state["epochs_done"] < train_config.epochs:
        model.fit(
            train_data,
            validation_data=val_data,
            epochs=train_config.epochs,
            initial_epoch=state["epochs_done"],
            steps_per_epoch=train_config.steps_per_epoch,
            callbacks=callbacks,
            shuffle=False,  # the dataset shuffles itself, seeded per epoch
            verbose=verbose,
        )
    _write_json(out / DONE_FILE, {
        "epochs": state["epochs_done"],
        "steps": state["epochs_done"] * train_config.steps_per_epoch,
        "best_epoch": state["best_epoch"],
        "best_val_loss": state["best_val_loss"],
        "backend": keras.backend.backend(),
    })
    _load_final(model, out, state)
    return state["history"]


def _load_final(model: keras.Model, out: Path, state: dict) -> None:
    """Load the best weights (or the last ones if no epoch had a finite monitored loss)."""
    if (out / BEST_WEIGHTS).exists():
        load_weights(model, out / BEST_WEIGHTS)
    elif state.get("weights"):
        load_weights(model, out / state["weights"])
