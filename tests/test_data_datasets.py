"""PatchDataset: seeded batches, per-sample augmentation that keeps labels aligned, target_fn."""

import numpy as np
import pytest

from keras_voidseg.data.augment import dihedral
from keras_voidseg.data.datasets import PatchDataset

pytestmark = pytest.mark.keras


def make_patches(n=10, p=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 1000, (n, p, p)).astype(np.float32)
    y = x.astype(np.int32) % 97  # a pixel-wise function of x: must survive augmentation
    return x, y


def batches(ds):
    return [ds[i] for i in range(len(ds))]


def test_shapes_types_and_default_length():
    x, y = make_patches(10)
    ds = PatchDataset(x, y, batch_size=4)
    assert len(ds) == 3
    inputs, targets = ds[0]
    assert inputs.shape == (4, 8, 8, 1) and inputs.dtype == np.float32
    assert targets.shape == (4, 8, 8) and targets.dtype == np.int32
    assert len(PatchDataset(x, y, batch_size=4, steps_per_epoch=7)) == 7
    with pytest.raises(IndexError):
        ds[3]


def test_same_seed_same_batches_other_seed_or_epoch_different():
    x, y = make_patches(10)
    a = batches(PatchDataset(x, y, batch_size=4, seed=1))
    b = batches(PatchDataset(x, y, batch_size=4, seed=1))
    c = batches(PatchDataset(x, y, batch_size=4, seed=2))
    for (ax, ay), (bx, by) in zip(a, b):
        np.testing.assert_array_equal(ax, bx)
        np.testing.assert_array_equal(ay, by)
    assert not all(np.array_equal(p[0], q[0]) for p, q in zip(a, c))

    ds = PatchDataset(x, y, batch_size=4, seed=1)
    first = [ds.indices(i) for i in range(len(ds))]
    ds.on_epoch_end()
    second = [ds.indices(i) for i in range(len(ds))]
    assert not all(np.array_equal(p, q) for p, q in zip(first, second))
    ds.set_epoch(0)
    np.testing.assert_array_equal(ds[1][0], a[1][0])
    # random access order does not matter (worker threads may ask in any order)
    ds2 = PatchDataset(x, y, batch_size=4, seed=1)
    np.testing.assert_array_equal(ds2[2][0], a[2][0])


def test_one_epoch_visits_every_patch_and_longer_epochs_cycle():
    x, y = make_patches(10)
    ds = PatchDataset(x, y, batch_size=5, seed=3)
    seen = np.concatenate([ds.indices(i) for i in range(len(ds))])
    np.testing.assert_array_equal(np.sort(seen), np.arange(10))
    long = PatchDataset(x, y, batch_size=4, steps_per_epoch=6, seed=3)
    stream = np.concatenate([long.indices(i) for i in range(6)])
    assert len(stream) == 24
    np.testing.assert_array_equal(np.sort(stream[:10]), np.arange(10))
    np.testing.assert_array_equal(np.sort(stream[10:20]), np.arange(10))


def test_each_sample_is_a_dihedral_transform_of_its_patch_with_labels_aligned():
    x, y = make_patches(12)
    ds = PatchDataset(x, y, batch_size=12, seed=5)
    bx, by = ds[0]
    idx = ds.indices(0)
    ks_used = set()
    for i, j in enumerate(idx):
        matches = [k for k in range(8) if np.array_equal(bx[i, ..., 0], dihedral(x[j], k))]
        assert len(matches) == 1
        np.testing.assert_array_equal(by[i], dihedral(y[j], matches[0]))
        ks_used.add(matches[0])
    assert len(ks_used) > 1  # samples get their own transforms
    np.testing.assert_array_equal(by, bx[..., 0].astype(np.int32) % 97)


def test_no_augmentation_and_no_shuffle():
    x, y = make_patches(5)
    ds = PatchDataset(x, y, batch_size=2, augment=False, shuffle=False, steps_per_epoch=3)
    np.testing.assert_array_equal(ds[0][0][..., 0], x[[0, 1]])
    np.testing.assert_array_equal(ds[2][1], y[[4, 0]])


def test_target_fn_gets_augmented_batches_and_a_seeded_rng():
    x, y = make_patches(6)
    calls = []

    def target_fn(xb, yb, rng):
        calls.append((xb.shape, xb.dtype, None if yb is None else (yb.shape, yb.dtype)))
        assert isinstance(rng, np.random.Generator)
        return {"image": xb[..., None]}, rng.random(3)

    ds = PatchDataset(x, y, batch_size=3, target_fn=target_fn, seed=4)
    inputs, noise = ds[1]
    assert calls[-1] == ((3, 8, 8), np.float32, ((3, 8, 8), np.int32))
    assert inputs["image"].shape == (3, 8, 8, 1)
    np.testing.assert_array_equal(noise, PatchDataset(x, y, batch_size=3, target_fn=target_fn, seed=4)[1][1])
    unlabeled = PatchDataset(x, None, batch_size=3, target_fn=target_fn)
    unlabeled[0]
    assert calls[-1][2] is None


def test_bad_inputs_are_rejected():
    x, y = make_patches(4)
    with pytest.raises(ValueError, match="square"):
        PatchDataset(x[:, :, :5], batch_size=2)
    with pytest.raises(ValueError, match="y shape"):
        PatchDataset(x, y[:3], batch_size=2)
    with pytest.raises(ValueError, match="integer"):
        PatchDataset(x, y.astype(np.float32), batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        PatchDataset(x, y, batch_size=0)


def test_keras_fit_consumes_it_and_advances_epochs():
    import keras

    x, y = make_patches(8)
    x = x / 1000.0

    def target_fn(xb, yb, rng):
        return xb[..., None], (yb > 40).astype(np.float32)[..., None]

    ds = PatchDataset(x, y, batch_size=4, target_fn=target_fn, seed=0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(1, 3, padding="same")])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(ds, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    # Keras calls on_epoch_end after every epoch (and may once more when it resets its
    # iterator before training), so the dataset moved on by at least one per epoch
    assert ds.epoch >= 2
