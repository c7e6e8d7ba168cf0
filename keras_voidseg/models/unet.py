"""The U-Net backbone shared by every VoidSeg network (Ronneberger et al. 2015, CSBDeep style).

``build_unet(backbone, head)`` returns a functional ``keras.Model`` mapping
``(B, H, W, input_channels)`` float32 images to ``(B, H, W, head.n_outputs)``:

* encoder level ``i`` (``i = 0 .. depth-1``): ``conv_per_level`` x [3x3 conv, batch norm,
  ReLU] with ``base_filters * 2**i`` filters, then 2x2 max pooling;
* bottom: ``conv_per_level`` x [conv, BN, ReLU] with ``base_filters * 2**depth`` filters
  (optional dropout after it);
* decoder level ``i`` (``depth-1 .. 0``): nearest-neighbour 2x upsampling (no weights, so it
  is exact on every backend), concatenation with the encoder's level-``i`` output, then
  ``conv_per_level`` x [conv, BN, ReLU] with ``base_filters * 2**i`` filters;
* the head (:mod:`keras_voidseg.models.heads`).

Layer names are stable (``enc0_conv0``, ``enc0_bn0``, ``bottom_conv1``, ``dec1_bn1``,
``head_...``) so that :func:`transfer_backbone_weights` can copy a trained N2V backbone into
a segmenter.  Only standard layers are used (no ``Lambda``), so ``.weights.h5`` files and
``get_config`` load under TensorFlow and PyTorch alike.  The spatial input size is free
(``None``) but must be a multiple of ``2**depth`` (:func:`check_input_shape`).
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers

from keras_voidseg.config import BackboneConfig, HeadConfig, PipelineConfig


def check_input_shape(shape: Sequence[int], backbone: BackboneConfig) -> None:
    """Raise a ValueError unless an array of ``shape`` can be fed to the network.

    ``shape`` is ``(H, W)``, ``(H, W, C)`` or ``(B, H, W, C)``; ``H`` and ``W`` must be
    multiples of ``backbone.size_divisor`` (``2**depth``) and ``C`` (if given) must equal
    ``backbone.input_channels``.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3, 4):
        raise ValueError(f"input shape must be (H, W), (H, W, C) or (B, H, W, C), got {shape}")
    spatial = shape[:2] if len(shape) < 4 else shape[1:3]
    div = backbone.size_divisor
    bad = [s for s in spatial if s < 1 or s % div]
    if bad:
        fixed = tuple(max(div, -(-s // div) * div) for s in spatial)
        raise ValueError(
            f"input spatial size {spatial} must be a multiple of 2**depth = {div} "
            f"(depth={backbone.depth}); pad or crop the image, e.g. to {fixed}"
        )
    if len(shape) >= 3 and shape[-1] != backbone.input_channels:
        raise ValueError(
            f"input has {shape[-1]} channel(s) (shape {shape}) but the network expects "
            f"input_channels={backbone.input_channels}"
        )


def _conv_block(x, filters: int, prefix: str, backbone: BackboneConfig):
    """``conv_per_level`` x [conv, (BN), ReLU]; layers named ``{prefix}_conv{j}`` etc."""
    for j in range(backbone.conv_per_level):
        x = layers.Conv2D(filters, backbone.kernel_size, padding="same",
                          use_bias=not backbone.batch_norm, name=f"{prefix}_conv{j}")(x)
        if backbone.batch_norm:
            x = layers.BatchNormalization(name=f"{prefix}_bn{j}")(x)
        x = layers.Activation("relu", name=f"{prefix}_relu{j}")(x)
    return x


def unet_features(inputs, backbone: BackboneConfig):
    """Apply the backbone to a Keras tensor; returns the last decoder feature map."""
    skips = []
    x = inputs
    for i in range(backbone.depth):
        x = _conv_block(x, backbone.base_filters * 2**i, f"enc{i}", backbone)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{i}_pool")(x)
    x = _conv_block(x, backbone.base_filters * 2**backbone.depth, "bottom", backbone)
    if backbone.dropout > 0:
        x = layers.Dropout(backbone.dropout, name="bottom_dropout")(x)
    for i in reversed(range(backbone.depth)):
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"dec{i}_up")(x)
        x = layers.Concatenate(axis=-1, name=f"dec{i}_concat")([x, skips[i]])
        x = _conv_block(x, backbone.base_filters * 2**i, f"dec{i}", backbone)
    return x


def build_unet(backbone: BackboneConfig, head: HeadConfig, name: str = "voidseg_unet") -> keras.Model:
    """Functional U-Net + head: ``(B, H, W, C_in)`` -> ``(B, H, W, head.n_outputs)`` float32."""
    from keras_voidseg.models.heads import apply_head

    if not isinstance(backbone, BackboneConfig):
        raise TypeError(f"backbone must be a BackboneConfig, got {type(backbone).__name__}")
    if not isinstance(head, HeadConfig):
        raise TypeError(f"head must be a HeadConfig, got {type(head).__name__}")
    inputs = keras.Input(shape=(None, None, backbone.input_channels), name="image")
    features = unet_features(inputs, backbone)
    outputs = apply_head(features, head, backbone)
    return keras.Model(inputs, outputs, name=name)


def build_from_config(config: PipelineConfig, denoiser: bool = False) -> keras.Model:
    """Rebuild a pipeline's segmenter (or, with ``denoiser=True``, its N2V denoiser).

    The denoiser is a ``voidseg``-head U-Net on ``config.denoiser_backbone`` (or the
    segmenter's backbone when that is None).
    """
    if denoiser:
        backbone = config.denoiser_backbone or config.backbone
        return build_unet(backbone, HeadConfig(kind="voidseg"), name="n2v_denoiser")
    return build_unet(config.backbone, config.head, name=f"{config.method}_segmenter")


def transfer_backbone_weights(src_model: keras.Model, dst_model: keras.Model, *,
                              include_head: bool = False) -> list[str]:
    """Copy weights of same-named layers with identical weight shapes from src to dst.

    Used by the finetune schemes: the N2V denoiser's backbone initialises the segmenter.
    Layers whose names start with ``head_`` are copied only with ``include_head=True``
    (useful when both networks have the same ``voidseg`` head).  Returns the names of the
    layers whose weights were copied, in ``dst_model`` order; layers that share a name but
    differ in weight shapes are skipped.
    """
    src_layers = {layer.name: layer for layer in src_model.layers}
    copied = []
    for layer in dst_model.layers:
        if not layer.weights or layer.name not in src_layers:
            continue
        if layer.name.startswith("head_") and not include_head:
            continue
        src_weights = src_layers[layer.name].get_weights()
        dst_weights = layer.get_weights()
        if len(src_weights) != len(dst_weights) or any(
            a.shape != b.shape for a, b in zip(src_weights, dst_weights)
        ):
            continue
        layer.set_weights(src_weights)
        copied.append(layer.name)
    return copied
