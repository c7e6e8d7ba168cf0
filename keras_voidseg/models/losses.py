"""Losses of the VoidSeg stages, written with ``keras.ops`` only (any backend).

Target (``y_true``) channel layouts, matching the heads' outputs (``y_pred``):

* **N2V** (``n2v_loss``): ``y_true (B, H, W, 2)`` = [original value, mask] as made by
  :func:`keras_voidseg.models.n2v.n2v_manipulate`; the prediction's *last* channel is the
  denoised intensity (channel 3 of the voidseg head).
* **3-class** (``three_class_loss``): ``y_true (B, H, W, 3)`` one-hot float
  [background, foreground, border]; an all-zero pixel (or sample) is *unlabelled* and does
  not count.  ``y_pred``'s first 3 channels are the class logits.
* **Joint** (``joint_loss``): ``y_true (B, H, W, 5)`` = the 3 one-hot class channels
  (all zero for unlabelled samples) followed by the 2 N2V channels; ``y_pred`` is the
  4-channel voidseg output.  Because ``n2v_loss`` reads the *last two* target channels and
  ``three_class_loss`` the *first three*, both work unchanged on the joint layout.
* **StarDist** (``stardist_loss``): ``y_true (B, H, W, 1 + n_rays)`` = [object probability,
  distances]; ``y_pred`` the stardist head output [sigmoid probability, distances].

Every loss returns one scalar for the whole batch (means over pixels of the batch, as
documented per loss), so Keras' batch reduction leaves it unchanged.  All are
``keras.losses.Loss`` subclasses registered for serialisation (``get_config`` round-trips);
the lower-case factory functions are the public names.
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

_EPS = 1e-7
_PACKAGE = "keras_voidseg"


def _masked_mse(y_true, y_pred):
    """Mean squared error of the intensity channel over masked pixels only."""
    target = y_true[..., -2]
    mask = y_true[..., -1]
    residual = y_pred[..., -1] - target
    return ops.sum(mask * ops.square(residual)) / ops.maximum(ops.sum(mask), 1.0)


def _weighted_cross_entropy(y_true, y_pred, class_weights):
    """Weighted mean of softmax cross-entropy over labelled pixels.

    Per pixel: ``w[c] * -log softmax(logits)[c]`` for its true class ``c``; the batch value is
    ``sum(w * ce) / sum(w)`` (a weighted mean: border pixels count 5x but the loss scale does
    not depend on how many border pixels a batch has).  Unlabelled pixels have weight 0.  A
    batch without any labelled pixel gives 0.
    """
    n = len(class_weights)
    onehot = ops.cast(y_true[..., :n], "float32")
    logits = y_pred[..., :n]
    log_probs = ops.log_softmax(logits, axis=-1)
    weights = ops.convert_to_tensor(list(class_weights), dtype="float32")
    pixel_weight = ops.sum(onehot * weights, axis=-1)
    pixel_ce = -ops.sum(onehot * log_probs, axis=-1)
    return ops.sum(pixel_weight * pixel_ce) / ops.maximum(ops.sum(pixel_weight), _EPS)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class N2VLoss(keras.losses.Loss):
    """Noise2Void masked MSE; see :func:`n2v_loss`."""

    def __init__(self, name: str = "n2v_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return _masked_mse(y_true, y_pred)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ThreeClassLoss(keras.losses.Loss):
    """Class-weighted softmax cross-entropy; see :func:`three_class_loss`."""

    def __init__(self, class_weights: Sequence[float] = (1.0, 1.0, 5.0),
                 name: str = "three_class_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_weights = _check_class_weights(class_weights)

    def call(self, y_true, y_pred):
        return _weighted_cross_entropy(y_true, y_pred, self.class_weights)

    def get_config(self):
        return {**super().get_config(), "class_weights": list(self.class_weights)}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class StarDistLoss(keras.losses.Loss):
    """BCE(prob) + dist_weight * prob-weighted MAE(dist); see :func:`stardist_loss`."""

    def __init__(self, dist_weight: float = 0.2, name: str = "stardist_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if dist_weight < 0:
            raise ValueError(f"dist_weight must be >= 0, got {dist_weight}")
        self.dist_weight = float(dist_weight)

    def call(self, y_true, y_pred):
        prob_true = y_true[..., :1]
        prob = ops.clip(y_pred[..., :1], _EPS, 1.0 - _EPS)
        bce = -ops.mean(prob_true * ops.log(prob) + (1.0 - prob_true) * ops.log(1.0 - prob))
        mae = ops.mean(prob_true * ops.abs(y_pred[..., 1:] - y_true[..., 1:]))
        return bce + self.dist_weight * mae

    def get_config(self):
        return {**super().get_config(), "dist_weight": self.dist_weight}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class JointLoss(keras.losses.Loss):
    """DenoiSeg-style ``alpha * n2v + (1 - alpha) * 3-class``; see :func:`joint_loss`."""

    def __init__(self, alpha: float = 0.5, class_weights: Sequence[float] = (1.0, 1.0, 5.0),
                 name: str = "joint_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.alpha = float(alpha)
        self.class_weights = _check_class_weights(class_weights)

    def call(self, y_true, y_pred):
        return (self.alpha * _masked_mse(y_true, y_pred)
                + (1.0 - self.alpha) * _weighted_cross_entropy(y_true, y_pred, self.class_weights))

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha,
                "class_weights": list(self.class_weights)}


def _check_class_weights(class_weights: Sequence[float]) -> tuple[float, ...]:
    weights = tuple(float(w) for w in class_weights)
    if len(weights) != 3 or any(w < 0 for w in weights) or not any(weights):
        raise ValueError(
            f"class_weights must be 3 non-negative numbers (background, foreground, border), "
            f"not all zero; got {tuple(class_weights)}"
        )
    return weights


def n2v_loss() -> N2VLoss:
    """Noise2Void loss: MSE between the last prediction channel and the original value,
    averaged over the masked pixels of the batch only (``y_true`` = [original, mask])."""
    return N2VLoss()


def three_class_loss(class_weights: Sequence[float] = (1.0, 1.0, 5.0)) -> ThreeClassLoss:
    """Weighted softmax cross-entropy on the 3 class logits, one-hot ``y_true``.

    Normalised as ``sum(w * ce) / sum(w)`` over the batch's labelled pixels.
    """
    return ThreeClassLoss(class_weights)


def stardist_loss(dist_weight: float = 0.2) -> StarDistLoss:
    """StarDist loss: ``mean(BCE(prob)) + dist_weight * mean(prob_true * |d_pred - d_true|)``.

    Both means run over all pixels of the batch (the distance term also over rays).
    """
    return StarDistLoss(dist_weight)


def joint_loss(alpha: float = 0.5, class_weights: Sequence[float] = (1.0, 1.0, 5.0)) -> JointLoss:
    """DenoiSeg-style joint loss on the 5-channel target (3 one-hot classes + [original, mask]).

    Unlabelled samples carry all-zero class channels and so contribute only to the N2V term.
    """
    return JointLoss(alpha, class_weights)
