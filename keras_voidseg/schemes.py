"""The VoidSeg training schemes, all built from the same two stages.

Stage 1, **Noise2Void** (:func:`train_denoiser`): a ``voidseg``-head U-Net trained
self-supervised (blind-spot masking, masked MSE on the intensity channel) on every noisy
training and validation image.  Trained once per data set, noise level, preset and seed and
reused: its training folder is resumable, and a finished folder is simply loaded.

Stage 2, **segmentation** (:func:`train_segmenter`), for ``method`` "unet" (3-class
pixel classification, border weighted 5x) or "stardist" (probability + rays), on the
labelled training subset Pk.  The schemes differ only in two switches:

================== ===================== ===========================
scheme             segmenter input       segmenter initialisation
================== ===================== ===========================
baseline           noisy images          random
sequential         N2V-denoised images   random
finetune           noisy images          N2V network's weights
finetune-sequential N2V-denoised images  N2V network's weights
================== ===================== ===========================

(The paper finetunes only the U-Net; StarDist here shares the N2V backbone, so both
finetune schemes exist for it too: backbone weights are copied, the StarDist head starts
fresh.)  ``joint`` (U-Net only) is the DenoiSeg-style extension: one voidseg network trained
with ``alpha * N2V + (1 - alpha) * 3-class`` on every training patch, the class term
counting only the labelled subset.

Everything here is Keras-level and backend-agnostic (``keras.ops`` through the models and
losses); nothing imports TensorFlow or PyTorch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from keras_voidseg.config import HeadConfig, PipelineConfig, Preset, TrainConfig
from keras_voidseg.data.datasets import PatchDataset
from keras_voidseg.experiment import ExperimentData
from keras_voidseg.models import losses, targets
from keras_voidseg.models.heads import INTENSITY_CHANNEL
from keras_voidseg.models.inference import predict_fn
from keras_voidseg.models.unet import build_from_config, build_unet, transfer_backbone_weights
from keras_voidseg.predict import predict_tiled
from keras_voidseg.training import fit


@dataclass(frozen=True)
class SchemeSpec:
    """What a scheme does with the N2V network."""

    denoised_input: bool
    init_from_n2v: bool
    joint: bool = False

    @property
    def needs_denoiser(self) -> bool:
        return self.denoised_input or self.init_from_n2v


SCHEME_SPECS: dict[str, SchemeSpec] = {
    "baseline": SchemeSpec(denoised_input=False, init_from_n2v=False),
    "sequential": SchemeSpec(denoised_input=True, init_from_n2v=False),
    "finetune": SchemeSpec(denoised_input=False, init_from_n2v=True),
    "finetune-sequential": SchemeSpec(denoised_input=True, init_from_n2v=True),
    "joint": SchemeSpec(denoised_input=False, init_from_n2v=False, joint=True),
}


def scheme_spec(scheme: str, method: str = "unet") -> SchemeSpec:
    """The :class:`SchemeSpec` of ``scheme`` (ValueError naming the valid schemes)."""
    if scheme not in SCHEME_SPECS:
        raise ValueError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEME_SPECS)}")
    if scheme == "joint" and method != "unet":
        raise ValueError("the joint scheme trains one voidseg network (3 classes + denoising); "
                         f"it exists for --method unet only, not {method!r}")
    return SCHEME_SPECS[scheme]


def pipeline_config(method: str, scheme: str, preset: Preset, *, n_rays: int = 32,
                    train: TrainConfig | None = None) -> PipelineConfig:
    """The PipelineConfig of a method/scheme trained with ``preset``."""
    spec = scheme_spec(scheme, method)
    head = HeadConfig(kind="stardist" if method == "stardist" else "voidseg", n_rays=n_rays)
    return PipelineConfig(
        method=method, scheme=scheme, backbone=preset.backbone, head=head,
        train=train or preset.train, preset=preset.name,
        has_denoiser=spec.denoised_input, denoiser_backbone=preset.backbone if spec.denoised_input else None,
    )


def denoise_images(denoiser: keras.Model, images, n_tiles=None) -> list[np.ndarray]:
    """Run the N2V network over whole normalised images: list of float32 (Y, X)."""
    forward = predict_fn(denoiser)
    divisor = 2 ** _depth(denoiser)
    return [predict_tiled(forward, image, divisor=divisor, n_tiles=n_tiles)[..., INTENSITY_CHANNEL]
            for image in images]


def _depth(model: keras.Model) -> int:
    """Number of pooling levels of a U-Net built by :func:`build_unet`."""
    return sum(1 for layer in model.layers if layer.name.endswith("_pool"))


def _datasets(x, y, x_val, y_val, target_fn, train: TrainConfig):
    """Training and validation PatchDatasets sharing one target function."""
    train_data = PatchDataset(x, y, batch_size=train.batch_size, steps_per_epoch=train.steps_per_epoch,
                              target_fn=target_fn, augment=train.augment, seed=train.seed)
    val_data = PatchDataset(x_val, y_val, batch_size=train.batch_size,
                            steps_per_epoch=math.ceil(len(x_val) / train.batch_size),
                            target_fn=target_fn, augment=False, shuffle=False, seed=train.seed + 1)
    return train_data, val_data


def train_denoiser(data: ExperimentData, backbone, train: TrainConfig, out_dir, *,
                   verbose: int = 1) -> keras.Model:
    """Stage 1: Noise2Void on all noisy training + validation images (resumable)."""
    model = build_unet(backbone, HeadConfig(kind="voidseg"), name="n2v_denoiser")
    x = np.concatenate([data.patches("train", train.patch_size, with_labels=False)[0],
                        data.patches("val", train.patch_size, with_labels=False)[0]])
    x_val, _ = data.patches("val", train.patch_size, with_labels=False)
    train_data, val_data = _datasets(x, None, x_val, None, targets.n2v_targets(train), train)
    fit(model, losses.n2v_loss(), train_data, val_data, train, Path(out_dir), verbose=verbose)
    return model


def segmentation_inputs(data: ExperimentData, spec: SchemeSpec, denoiser: keras.Model | None):
    """The normalised images the segmenter sees: noisy, or denoised by the N2V network."""
    if not spec.denoised_input:
        return None  # ExperimentData's own (noisy) images
    if denoiser is None:
        raise ValueError("this scheme feeds N2V-denoised images to the segmenter; pass a denoiser")
    return denoise_images(denoiser, data.images)


def train_segmenter(data: ExperimentData, config: PipelineConfig, subset: str, out_dir, *,
                    denoiser: keras.Model | None = None, inputs=None, verbose: int = 1) -> keras.Model:
    """Stage 2: the segmentation network of ``config.scheme`` on training subset ``subset``.

    ``inputs``: the images the segmenter sees (from :func:`segmentation_inputs`; computed
    here if None).  Returns the trained model (best validation weights).
    """
    spec = scheme_spec(config.scheme, config.method)
    if spec.needs_denoiser and denoiser is None:
        raise ValueError(f"scheme {config.scheme!r} needs the trained N2V denoiser; pass denoiser=")
    if inputs is None:
        inputs = segmentation_inputs(data, spec, denoiser)
    train = config.train
    model = build_from_config(config)
    if spec.init_from_n2v:
        copied = transfer_backbone_weights(denoiser, model, include_head=config.method == "unet")
        if not copied:
            raise ValueError("no N2V weights could be copied into the segmenter: the denoiser's "
                             "backbone differs from the segmenter's")
    x, y = data.patches("train", train.patch_size, inputs)
    x_val, y_val = data.patches("val", train.patch_size, inputs)
    chosen = data.subset(subset, len(x))
    if spec.joint:
        labelled = y
        y = np.full_like(labelled, -1)  # unlabelled patches: only the N2V term counts
        y[chosen] = labelled[chosen]
        target_fn, loss = targets.joint_targets(train), losses.joint_loss(train.joint_alpha, train.class_weights)
    else:
        x, y = x[chosen], y[chosen]
        if config.method == "stardist":
            target_fn = targets.stardist_targets(config.head.n_rays)
            loss = losses.stardist_loss(train.stardist_dist_weight)
        else:
            target_fn, loss = targets.three_class_targets(), losses.three_class_loss(train.class_weights)
    train_data, val_data = _datasets(x, y, x_val, y_val, target_fn, train)
    fit(model, loss, train_data, val_data, train, Path(out_dir), verbose=verbose)
    return model
