"""``PatchDataset``: a seeded, augmenting ``keras.utils.PyDataset`` over square patches.

Batch ``i`` of epoch ``e`` depends only on ``(seed, e, i)``:

* sample indices: the epoch's index stream is a concatenation of seeded permutations of
  ``0..N-1`` (``default_rng((seed, e, j))`` for ``j = 0, 1, ...``), long enough for
  ``steps_per_epoch * batch_size`` draws; batch ``i`` takes the next ``batch_size`` entries.
  So one epoch of ``ceil(N / batch_size)`` steps visits every patch once (the last batch
  wraps into the next permutation), longer epochs cycle.
* augmentation and ``target_fn`` randomness: ``default_rng((seed, e, i, 1))``.

This makes batches reproducible regardless of worker threads/processes and of the order
in which Keras asks for them.  ``on_epoch_end`` (called by Keras) advances the epoch;
:meth:`PatchDataset.set_epoch` sets it (e.g. when resuming training).  Keras 3 also calls
``on_epoch_end`` once when ``fit`` resets its iterator before the first epoch, so under
``fit`` the training epochs use epoch numbers 1, 2, ... - still fully deterministic.

This is the only data module that imports Keras.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import keras

from .augment import N_TRANSFORMS, batch_dihedral

#: ``target_fn(x (B, P, P) float32, y (B, P, P) int32 or None, rng) -> (inputs, targets)``
TargetFn = Callable[[np.ndarray, "np.ndarray | None", np.random.Generator], tuple]


def identity_targets(x: np.ndarray, y: np.ndarray | None, rng: np.random.Generator) -> tuple:
    """Default target function: ``(x[..., None], y)`` (adds the channel axis)."""
    return x[..., None], y


class PatchDataset(keras.utils.PyDataset):
    """Batches of augmented patches, turned into network inputs/targets by ``target_fn``.

    Args:
        x: float32 ``(N, P, P)`` patches, already normalised.
        y: int32 ``(N, P, P)`` label patches, or None (self-supervised training).
        batch_size: samples per batch.
        steps_per_epoch: batches per epoch (``len(dataset)``); default ``ceil(N / batch_size)``.
        target_fn: ``(x_batch, y_batch, rng) -> (inputs, targets)``, called after
            augmentation (e.g. N2V masking, 3-class or StarDist targets); default
            :func:`identity_targets`.
        augment: apply a random one of the 8 dihedral transforms to each sample (the same
            one to its image and labels).
        shuffle: draw samples from seeded permutations; if False, in order ``0, 1, ...``
            (cycling), e.g. for validation data.
        seed: base seed.
        **pydataset_kwargs: ``workers``, ``use_multiprocessing``, ``max_queue_size``.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray | None = None,
        *,
        batch_size: int,
        steps_per_epoch: int | None = None,
        target_fn: TargetFn | None = None,
        augment: bool = True,
        shuffle: bool = True,
        seed: int = 0,
        **pydataset_kwargs,
    ):
        super().__init__(**pydataset_kwargs)
        x = np.asarray(x)
        if x.ndim != 3 or x.shape[1] != x.shape[2] or len(x) == 0:
            raise ValueError(f"PatchDataset: x must be non-empty square patches (N, P, P), got shape {x.shape}")
        self.x = np.ascontiguousarray(x, dtype=np.float32)
        if y is not None:
            y = np.asarray(y)
            if y.shape != x.shape:
                raise ValueError(f"PatchDataset: y shape {y.shape} must equal x shape {x.shape}")
            if not np.issubdtype(y.dtype, np.integer):
                raise ValueError(f"PatchDataset: y must hold integer labels, got dtype {y.dtype}")
            y = np.ascontiguousarray(y, dtype=np.int32)
        self.y = y
        if int(batch_size) < 1:
            raise ValueError(f"PatchDataset: batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        if steps_per_epoch is None:
            steps_per_epoch = math.ceil(len(x) / self.batch_size)
        if int(steps_per_epoch) < 1:
            raise ValueError(f"PatchDataset: steps_per_epoch must be >= 1, got {steps_per_epoch}")
        self.steps_per_epoch = int(steps_per_epoch)
        self.target_fn = identity_targets if target_fn is None else target_fn
        self.augment = bool(augment)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.epoch = 0
        self._cache: tuple[int, np.ndarray] | None = None  # (epoch, index stream)

    def __len__(self) -> int:
        return self.steps_per_epoch

    @property
    def num_batches(self) -> int:
        return self.steps_per_epoch

    def set_epoch(self, epoch: int) -> None:
        """Make the following batches those of ``epoch`` (0-based)."""
        self.epoch = int(epoch)

    def on_epoch_end(self) -> None:
        self.epoch += 1

    def _epoch_order(self, epoch: int) -> np.ndarray:
        """The index stream of ``epoch`` (``steps * batch_size`` entries), cached."""
        cache = self._cache
        if cache is not None and cache[0] == epoch:
            return cache[1]
        n, total = len(self.x), self.steps_per_epoch * self.batch_size
        if self.shuffle:
            rounds = math.ceil(total / n)
            order = np.concatenate([
                np.random.default_rng((self.seed, epoch, j)).permutation(n) for j in range(rounds)
            ])[:total]
        else:
            order = np.arange(total) % n
        self._cache = (epoch, order)  # one assignment: safe with worker threads
        return order

    def indices(self, index: int, epoch: int | None = None) -> np.ndarray:
        """Sample indices of batch ``index`` in ``epoch`` (default: the current epoch)."""
        if not 0 <= index < self.steps_per_epoch:
            raise IndexError(f"batch index {index} out of range 0..{self.steps_per_epoch - 1}")
        order = self._epoch_order(self.epoch if epoch is None else int(epoch))
        return order[index * self.batch_size:(index + 1) * self.batch_size]

    def __getitem__(self, index: int):
        epoch = self.epoch
        idx = self.indices(index, epoch)
        rng = np.random.default_rng((self.seed, epoch, int(index), 1))
        x = self.x[idx]
        y = None if self.y is None else self.y[idx]
        if self.augment:
            ks = rng.integers(N_TRANSFORMS, size=len(idx))
            if y is None:
                (x,) = batch_dihedral(ks, x)
            else:
                x, y = batch_dihedral(ks, x, y)
        return self.target_fn(x, y, rng)
