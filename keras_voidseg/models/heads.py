"""Output heads on top of the U-Net backbone; one output tensor per network.

``voidseg`` head (U-Net 3-class segmentation and Noise2Void denoising share it), output
``(B, H, W, n_classes + 1)``, all channels linear:

    [..., 0]  background logit      [..., 1]  foreground logit      [..., 2]  border logit
    [..., 3]  denoised intensity (the Noise2Void channel, in normalised image units)

Softmax over channels 0..2 gives the class probabilities (the losses take logits).  N2V
training scores only channel 3; segmentation training scores only channels 0..2, so one
network can be trained by either stage (finetune scheme) or both at once (joint scheme).

``stardist`` head (Schmidt et al. 2018), output ``(B, H, W, 1 + n_rays)``:

    [..., 0]          object probability (sigmoid)
    [..., 1:]         the ``n_rays`` radial distances in pixels (linear, as StarDist)

preceded, as in StarDist, by one 3x3 ReLU conv with ``min(128, 4 * base_filters)`` features
(128 for the paper's 32 base filters).  Both parts are concatenated into one tensor so one
loss function (``stardist_loss``) handles it.  Only ``grid=1`` (full-resolution output) is
supported; the config's ``grid`` is validated here.
"""

from __future__ import annotations

from keras import layers

from keras_voidseg.config import BackboneConfig, HeadConfig

#: channel index of the denoised intensity in the voidseg head (the last channel)
INTENSITY_CHANNEL = -1
#: class names of the voidseg head's first channels, in order
CLASS_NAMES = ("background", "foreground", "border")


def stardist_features(backbone: BackboneConfig) -> int:
    """Width of the StarDist head's 3x3 conv: 128 for the paper's 32 base filters."""
    return min(128, 4 * backbone.base_filters)


def apply_head(features, head: HeadConfig, backbone: BackboneConfig):
    """Apply the head described by ``head`` to the backbone's last feature map."""
    if head.kind == "voidseg":
        return layers.Conv2D(head.n_classes + 1, 1, activation="linear", name="head_voidseg")(
            features
        )
    if head.kind == "stardist":
        if head.grid != 1:
            raise ValueError(
                f"HeadConfig.grid={head.grid} is not supported: the stardist head predicts at "
                "full resolution; use grid=1"
            )
        x = layers.Conv2D(stardist_features(backbone), 3, padding="same", activation="relu",
                          name="head_stardist_features")(features)
        prob = layers.Conv2D(1, 1, activation="sigmoid", name="head_prob")(x)
        dist = layers.Conv2D(head.n_rays, 1, activation="linear", name="head_dist")(x)
        return layers.Concatenate(axis=-1, name="head_output")([prob, dist])
    raise ValueError(f"unknown head kind {head.kind!r}; expected 'voidseg' or 'stardist'")
