"""``Pipeline``: a trained VoidSeg model as users meet it (DESIGN §3, §6).

A pipeline bundles the optional N2V denoiser, the segmentation network (U-Net 3-class or
StarDist), the percentile normalisation, the tuned thresholds and the provenance::

    pipe = Pipeline.from_folder("out/stardist-sequential")   # or keras_voidseg.load_pretrained
    labels, details = pipe.predict_instances(image)            # int32 (H, W)
    clean = pipe.denoise(image)                                 # float32, raw intensity units
    scores = pipe.evaluate(images, gt_labels)                   # {"ap": ..., "seg": ..., ...}
    pipe.save_pretrained("out/copy"); pipe.push_to_hub("org/name")

Saved folder: ``config.json`` (format key, ``pipeline`` = PipelineConfig, ``task``,
``normalizer``), ``segmenter.weights.h5`` and/or ``denoiser.weights.h5`` (Keras 3 weights,
backend neutral: the networks are rebuilt from the config, no pickled code),
``thresholds.json``, ``metrics.json``, ``metadata.json`` and the model card ``README.md``.
All files are written atomically.  A denoiser-only pipeline (``task = "denoising"``) has
no segmenter and supports :meth:`denoise` only.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import keras
import numpy as np

from keras_voidseg.config import PipelineConfig
from keras_voidseg.data.normalize import PercentileNormalizer
from keras_voidseg.hub import FORMAT_KEY, PIPELINE_FORMAT_VERSION, check_pipeline_folder
from keras_voidseg.model_card import write_model_card, write_text_atomic
from keras_voidseg.models.heads import INTENSITY_CHANNEL
from keras_voidseg.models.inference import predict_fn
from keras_voidseg.models.unet import build_from_config
from keras_voidseg.predict import predict_tiled

SEGMENTER_WEIGHTS = "segmenter.weights.h5"
DENOISER_WEIGHTS = "denoiser.weights.h5"
TASKS = ("segmentation", "denoising")
#: default thresholds before tuning (StarDist's defaults; DenoiSeg's 0.5)
DEFAULT_THRESHOLDS = {"unet": {"fg_thresh": 0.5}, "stardist": {"prob_thresh": 0.5, "nms_thresh": 0.4}}


def _check_image(image, name: str = "image") -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"{name} must be a 2D (Y, X) grey-value image, got shape {image.shape}; "
                         "pass one channel of one plane")
    if not np.issubdtype(image.dtype, np.number) or np.issubdtype(image.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, got dtype {image.dtype}")
    return image.astype(np.float32, copy=False)


def _write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


class Pipeline:
    """Denoiser (optional) + segmenter + normalisation + thresholds + provenance."""

    def __init__(self, config: PipelineConfig, segmenter: keras.Model | None = None,
                 denoiser: keras.Model | None = None, *, normalizer: PercentileNormalizer | None = None,
                 thresholds: Mapping[str, float] | None = None, task: str = "segmentation",
                 metadata: Mapping[str, Any] | None = None, metrics: Mapping[str, Any] | None = None):
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        if task == "segmentation" and segmenter is None:
            raise ValueError("a segmentation pipeline needs a segmenter network")
        if task == "denoising" and denoiser is None:
            raise ValueError("a denoising pipeline needs a denoiser network")
        if config.has_denoiser and denoiser is None:
            raise ValueError(f"scheme {config.scheme!r} feeds denoised images to the segmenter: "
                             "pass the N2V denoiser")
        self.config = config
        self.segmenter = segmenter
        self.denoiser = denoiser
        self.task = task
        self.normalizer = normalizer or PercentileNormalizer()
        self.thresholds = dict(DEFAULT_THRESHOLDS[config.method] if task == "segmentation" else {})
        self.thresholds.update(thresholds or {})
        self.metadata = dict(metadata or {})
        self.metrics = dict(metrics or {})
        self._forward: dict[str, Any] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def build(cls, config: PipelineConfig, task: str = "segmentation", **kwargs) -> "Pipeline":
        """An untrained pipeline with freshly initialised networks rebuilt from ``config``."""
        segmenter = build_from_config(config) if task == "segmentation" else None
        denoiser = build_from_config(config, denoiser=True) if (config.has_denoiser or task == "denoising") else None
        return cls(config, segmenter, denoiser, task=task, **kwargs)

    @classmethod
    def from_folder(cls, folder: str | os.PathLike) -> "Pipeline":
        """Load a folder written by :meth:`save_pretrained` (weights only, no pickled code)."""
        folder = check_pipeline_folder(folder)
        data = _read_json(folder / "config.json")
        try:
            config = PipelineConfig.from_dict(data["pipeline"])
            task = data.get("task", "segmentation")
            normalizer = PercentileNormalizer.from_dict(data.get("normalizer", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{folder / 'config.json'}: cannot rebuild the pipeline ({exc}); "
                             "was it written by a newer keras_voidseg?") from None
        pipe = cls.build(config, task=task, normalizer=normalizer,
                         thresholds=_read_json(folder / "thresholds.json"),
                         metadata=_read_json(folder / "metadata.json"),
                         metrics=_read_json(folder / "metrics.json"))
        for model, filename in ((pipe.segmenter, SEGMENTER_WEIGHTS), (pipe.denoiser, DENOISER_WEIGHTS)):
            if model is None:
                continue
            path = folder / filename
            if not path.is_file():
                raise FileNotFoundError(f"{folder} is missing {filename}; the pipeline folder is incomplete "
                                        "(download it again or re-run save_pretrained)")
            model.load_weights(path)
        return pipe

    # ------------------------------------------------------------------ saving
    def save_pretrained(self, folder: str | os.PathLike, *, model_card: bool = True) -> Path:
        """Write the pipeline folder (DESIGN §6); every file atomically."""
        from keras_voidseg.training import save_weights_atomic

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for model, filename in ((self.segmenter, SEGMENTER_WEIGHTS), (self.denoiser, DENOISER_WEIGHTS)):
            if model is not None:
                save_weights_atomic(model, folder / filename)
        _write_json(folder / "config.json", {
            FORMAT_KEY: PIPELINE_FORMAT_VERSION,
            "task": self.task,
            "method": self.config.method if self.task == "segmentation" else "n2v",
            "scheme": self.config.scheme if self.task == "segmentation" else "n2v",
            "pipeline": self.config.to_dict(),
            "normalizer": self.normalizer.to_dict(),
        })
        _write_json(folder / "thresholds.json", self.thresholds)
        _write_json(folder / "metrics.json", self.metrics)
        _write_json(folder / "metadata.json", {**self.provenance(), **self.metadata})
        if model_card:
            write_model_card(folder)
        return folder

    def provenance(self) -> dict:
        """Versions, backend, date and parameter count (merged under the stored metadata)."""
        import keras_voidseg

        n_params = sum(m.count_params() for m in (self.segmenter, self.denoiser) if m is not None)
        return {
            "keras_version": keras.__version__,
            "keras_voidseg_version": keras_voidseg.__version__,
            "backend": keras.backend.backend(),
            "date": _dt.date.today().isoformat(),
            "parameter_count": int(n_params),
            "preset": self.config.preset,
            "task": self.task,
        }

    def push_to_hub(self, repo_id: str, private: bool = False, revision: str | None = None,
                    commit_message: str | None = None, **kwargs) -> dict:
        """Save to a temporary folder and upload it (see :func:`keras_voidseg.hub.push_to_hub`)."""
        import tempfile

        from keras_voidseg.hub import push_to_hub

        with tempfile.TemporaryDirectory() as tmp:
            folder = self.save_pretrained(Path(tmp) / "pipeline")
            return push_to_hub(folder, repo_id, private=private, revision=revision,
                               commit_message=commit_message, **kwargs)

    # ------------------------------------------------------------------ prediction
    def _run(self, which: str, model: keras.Model, image: np.ndarray, n_tiles) -> np.ndarray:
        if which not in self._forward:
            self._forward[which] = predict_fn(model)
        divisor = 2 ** (self.config.backbone.depth if which == "segmenter"
                        else (self.config.denoiser_backbone or self.config.backbone).depth)
        return predict_tiled(self._forward[which], image, divisor=divisor, n_tiles=n_tiles)

    def reset_cache(self) -> None:
        """Forget the compiled predictors (call after changing network weights)."""
        self._forward.clear()

    def normalize(self, image) -> np.ndarray:
        return self.normalizer(_check_image(image))

    def _denoise_normalized(self, normalized: np.ndarray, n_tiles=None) -> np.ndarray:
        if self.denoiser is None:
            raise ValueError(f"this pipeline ({self.config.method}-{self.config.scheme}) has no N2V "
                             "denoiser; load a sequential/denoising pipeline to denoise")
        return self._run("denoiser", self.denoiser, normalized, n_tiles)[..., INTENSITY_CHANNEL]

    def denoise(self, image, n_tiles=None) -> np.ndarray:
        """N2V-denoised ``image`` (float32 (Y, X)) in the input's intensity units."""
        image = _check_image(image)
        lo, hi = np.percentile(image, [self.normalizer.pmin, self.normalizer.pmax])
        return self._denoise_normalized(self.normalizer(image), n_tiles) * np.float32(hi - lo) + np.float32(lo)

    def network_output(self, image, n_tiles=None) -> np.ndarray:
        """Raw segmenter output (Y, X, K) for a raw image (normalised, denoised if needed)."""
        if self.segmenter is None:
            raise ValueError("this is a denoising pipeline; it has no segmenter (use denoise())")
        x = self.normalize(image)
        if self.config.has_denoiser:
            x = self._denoise_normalized(x, n_tiles)
        return self._run("segmenter", self.segmenter, x, n_tiles)

    def probabilities_from_output(self, output: np.ndarray) -> dict[str, np.ndarray]:
        """U-Net: ``{"classes": softmax (Y, X, 3)}``; StarDist: ``{"prob": (Y, X), "dist": (Y, X, R)}``."""
        if self.config.method == "stardist":
            return {"prob": output[..., 0], "dist": np.maximum(output[..., 1:], 0.0)}
        logits = output[..., :self.config.head.n_classes]
        logits = logits - logits.max(axis=-1, keepdims=True)
        exp = np.exp(logits)
        return {"classes": exp / exp.sum(axis=-1, keepdims=True)}

    def predict_probabilities(self, image, n_tiles=None) -> dict[str, np.ndarray]:
        """Per-pixel probabilities (see :meth:`probabilities_from_output`)."""
        return self.probabilities_from_output(self.network_output(image, n_tiles))

    def instances_from_probabilities(self, probs: Mapping[str, np.ndarray], **thresholds) -> tuple[np.ndarray, dict]:
        """Post-process probabilities into int32 labels with the stored (or given) thresholds."""
        t = {**self.thresholds, **{k: v for k, v in thresholds.items() if v is not None}}
        if self.config.method == "stardist":
            from keras_voidseg.stardist import non_maximum_suppression, polygons_to_label

            points, prob, dist = non_maximum_suppression(probs["dist"], probs["prob"],
                                                         prob_thresh=t["prob_thresh"], nms_thresh=t["nms_thresh"])
            labels = polygons_to_label(dist, points, probs["prob"].shape, prob=prob)
            return np.asarray(labels, np.int32), {"points": points, "prob": prob, "dist": dist, "thresholds": t}
        from keras_voidseg.postprocess import three_class_to_labels

        labels = three_class_to_labels(probs["classes"], threshold=t["fg_thresh"])
        return np.asarray(labels, np.int32), {"thresholds": t}

    def predict_instances(self, image, n_tiles=None, **thresholds) -> tuple[np.ndarray, dict]:
        """Instance labels int32 (Y, X) and details (StarDist: points, prob, dist)."""
        return self.instances_from_probabilities(self.predict_probabilities(image, n_tiles), **thresholds)

    def evaluate(self, images: Sequence[np.ndarray], gt_labels: Sequence[np.ndarray], *,
                 thresh: float = 0.5, n_tiles=None) -> dict:
        """Dataset-level AP (= TP/(TP+FP+FN)) at IoU ``thresh``, precision, recall, F1, SEG."""
        if len(images) != len(gt_labels):
            raise ValueError(f"got {len(images)} images but {len(gt_labels)} ground-truth label images")
        predictions = [self.predict_instances(image, n_tiles)[0] for image in images]
        return score_labels(gt_labels, predictions, thresh)


def score_labels(gt_labels: Sequence[np.ndarray], predictions: Sequence[np.ndarray], thresh: float = 0.5) -> dict:
    """The pipeline's scores of ``predictions`` (dataset aggregate over images)."""
    from keras_voidseg.metrics import matching_dataset, seg_score_dataset

    m = matching_dataset(list(gt_labels), list(predictions), thresh=thresh)
    return {
        "ap": float(m.ap), "seg": float(seg_score_dataset(list(gt_labels), list(predictions))),
        "precision": float(m.precision), "recall": float(m.recall), "f1": float(m.f1),
        "tp": int(m.tp), "fp": int(m.fp), "fn": int(m.fn), "iou_thresh": float(thresh),
        "n_images": len(predictions),
    }
