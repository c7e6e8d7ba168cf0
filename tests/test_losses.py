"""Losses against independent numpy references, serialisation, and masking behaviour."""

import numpy as np
import pytest

pytestmark = pytest.mark.keras

keras = pytest.importorskip("keras")

from keras_voidseg.models.losses import (  # noqa: E402
    joint_loss,
    n2v_loss,
    stardist_loss,
    three_class_loss,
)

RNG = np.random.default_rng(0)


def _value(loss, y_true, y_pred):
    return float(keras.ops.convert_to_numpy(loss(y_true.astype("float32"), y_pred.astype("float32"))))


def _n2v_batch(b=3, h=8, w=8):
    target = RNG.normal(size=(b, h, w))
    mask = np.zeros((b, h, w))
    mask.reshape(-1)[RNG.choice(b * h * w, 9, replace=False)] = 1
    return np.stack([target, mask], -1), RNG.normal(size=(b, h, w, 4))


def _onehot(b=3, h=8, w=8, unlabelled=()):
    classes = RNG.integers(0, 3, size=(b, h, w))
    onehot = np.eye(3)[classes]
    onehot[list(unlabelled)] = 0
    return onehot


def _np_weighted_ce(onehot, logits, weights):
    # per pixel, written out with explicit loops: -w[c] * log(softmax(z)[c])
    num = den = 0.0
    for idx in np.ndindex(onehot.shape[:-1]):
        if onehot[idx].sum() == 0:
            continue
        c = int(np.argmax(onehot[idx]))
        z = logits[idx][:3]
        log_p = z[c] - np.log(np.exp(z).sum())
        num += -weights[c] * log_p
        den += weights[c]
    return num / den if den else 0.0


def test_n2v_loss_matches_numpy_masked_mse():
    y_true, y_pred = _n2v_batch()
    mask = y_true[..., 1] == 1
    expected = np.mean((y_pred[..., 3][mask] - y_true[..., 0][mask]) ** 2)
    assert _value(n2v_loss(), y_true, y_pred) == pytest.approx(expected, rel=1e-5)


def test_n2v_loss_ignores_unmasked_pixels_and_class_channels():
    y_true, y_pred = _n2v_batch()
    base = _value(n2v_loss(), y_true, y_pred)
    changed = y_pred.copy()
    changed[..., 3][y_true[..., 1] == 0] += 100.0  # unmasked intensities
    changed[..., :3] -= 50.0  # class logits
    assert _value(n2v_loss(), y_true, changed) == pytest.approx(base, rel=1e-6)
    changed[..., 3][y_true[..., 1] == 1] += 1.0  # a masked one does count
    assert _value(n2v_loss(), y_true, changed) != pytest.approx(base, rel=1e-3)


def test_three_class_loss_matches_numpy_weighted_cross_entropy():
    onehot, logits = _onehot(), RNG.normal(size=(3, 8, 8, 4)) * 3
    for weights in [(1, 1, 5), (1, 2, 0.5)]:
        expected = _np_weighted_ce(onehot, logits, weights)
        assert _value(three_class_loss(weights), onehot, logits) == pytest.approx(expected, rel=1e-5)


def test_three_class_loss_skips_unlabelled_samples():
    onehot, logits = _onehot(unlabelled=[1]), RNG.normal(size=(3, 8, 8, 4))
    loss = three_class_loss()
    base = _value(loss, onehot, logits)
    assert base == pytest.approx(_np_weighted_ce(onehot, logits, (1, 1, 5)), rel=1e-5)
    logits[1] += RNG.normal(size=logits[1].shape) * 10
    assert _value(loss, onehot, logits) == pytest.approx(base, rel=1e-6)
    assert _value(loss, np.zeros_like(onehot), logits) == 0.0


def test_stardist_loss_matches_numpy_reference():
    n_rays = 6
    prob_true = RNG.random((2, 8, 8, 1)) * (RNG.random((2, 8, 8, 1)) > 0.4)
    dist_true = RNG.random((2, 8, 8, n_rays)) * 5
    y_true = np.concatenate([prob_true, dist_true], -1)
    prob_pred = RNG.uniform(0.01, 0.99, size=(2, 8, 8, 1))
    dist_pred = RNG.random((2, 8, 8, n_rays)) * 5
    y_pred = np.concatenate([prob_pred, dist_pred], -1)
    bce = -np.mean(prob_true * np.log(prob_pred) + (1 - prob_true) * np.log(1 - prob_pred))
    mae = np.mean(prob_true * np.abs(dist_pred - dist_true))
    for w in (0.2, 1.0):
        assert _value(stardist_loss(w), y_true, y_pred) == pytest.approx(bce + w * mae, rel=1e-5)
    # distances outside objects (prob_true == 0) do not count
    y_pred2 = y_pred.copy()
    y_pred2[..., 1:] += 100 * (prob_true == 0)
    assert _value(stardist_loss(), y_true, y_pred2) == pytest.approx(bce + 0.2 * mae, rel=1e-5)


def test_joint_loss_combines_n2v_and_segmentation():
    n2v_true, y_pred = _n2v_batch()
    onehot = _onehot(unlabelled=[0, 2])
    y_true = np.concatenate([onehot, n2v_true], -1)
    mask = n2v_true[..., 1] == 1
    mse = np.mean((y_pred[..., 3][mask] - n2v_true[..., 0][mask]) ** 2)
    ce = _np_weighted_ce(onehot, y_pred, (1, 1, 5))
    for alpha in (0.0, 0.3, 1.0):
        assert _value(joint_loss(alpha), y_true, y_pred) == pytest.approx(
            alpha * mse + (1 - alpha) * ce, rel=1e-5)
    # a fully unlabelled batch: only the N2V term remains
    y_true[..., :3] = 0
    assert _value(joint_loss(0.5), y_true, y_pred) == pytest.approx(0.5 * mse, rel=1e-5)


@pytest.mark.parametrize("loss", [n2v_loss(), three_class_loss((1, 2, 3)), stardist_loss(0.7),
                                  joint_loss(0.25, (1, 1, 4))])
def test_losses_serialise(loss):
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(restored) is type(loss) and restored.get_config() == loss.get_config()


def test_bad_loss_arguments():
    with pytest.raises(ValueError, match="class_weights"):
        three_class_loss((1, 1))
    with pytest.raises(ValueError, match="alpha"):
        joint_loss(1.5)
    with pytest.raises(ValueError, match="dist_weight"):
        stardist_loss(-1)
