"""Model cards (README.md of a pipeline folder) rendered from the MODEL_CARD.md template.

The card is built with ``huggingface_hub.ModelCard.from_template`` so its YAML front
matter is exactly what the Hub expects: ``library_name: keras``, ``license``,
``pipeline_tag`` (``image-segmentation``, or ``image-to-image`` for denoisers), ``tags``,
``datasets`` and a ``model-index`` built from ``EvalResult`` objects (AP@0.5, SEG).

What the card reads from a pipeline folder (every key optional; missing ones render as
"unknown")::

    config.json    method ("unet" | "stardist"), scheme, preset, task ("segmentation" |
                   "denoising"), backbone {depth, base_filters}, head {kind, n_rays},
                   has_denoiser                      (also looked up under a "pipeline" key)
    metadata.json  keras_version, keras_voidseg_version, backend, date, parameter_count,
                   preset, seed, command, data: {dataset, noise, n_train, ...} or a string
    metrics.json   ap, seg, precision, recall, f1, ...  (optionally {"test": {...}}),
                   baseline: {"name": ..., "ap": ..., "seg": ...}
    thresholds.json  {prob_thresh, nms_thresh, ...}

The template's master copy is the top-level ``MODEL_CARD.md``; the package renders its
identical copy ``keras_voidseg/templates/MODEL_CARD.md`` (a test keeps them equal).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Mapping

TEMPLATE_PATH = Path(__file__).parent / "templates" / "MODEL_CARD.md"
PARTS = ("config", "metadata", "metrics", "thresholds")

_METHOD_TITLES = {"unet": "U-Net 3-class (background / foreground / border)", "stardist": "StarDist (star-convex polygons)"}
_SCHEME_TEXT = {
    "baseline": "segmentation network trained on the noisy images, no denoising",
    "sequential": "Noise2Void denoiser first, segmentation network trained on the denoised images",
    "finetune": "segmentation network initialised from the Noise2Void network, then trained on the noisy images",
    "finetune-sequential": "denoise with Noise2Void, then fine-tune the N2V network for segmentation on the denoised images",
    "joint": "one network trained with a joint Noise2Void + segmentation loss (DenoiSeg-style)",
}
_METRIC_LABELS = {"ap": "AP@0.5", "seg": "SEG", "precision": "precision", "recall": "recall", "f1": "F1", "psnr": "PSNR"}


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` via a temp file in the same folder + ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_parts(folder: str | os.PathLike) -> dict[str, dict]:
    """``{"config": {...}, "metadata": {...}, "metrics": {...}, "thresholds": {...}}`` of a folder."""
    parts = {}
    for name in PARTS:
        path = Path(folder) / f"{name}.json"
        data: Any = {}
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path} is not valid JSON: {exc}") from None
        parts[name] = data if isinstance(data, dict) else {}
    return parts


def _get(mapping: Mapping, *keys: str, default: Any = None) -> Any:
    """First present key among ``keys`` in ``mapping`` or in its "pipeline" sub-dict."""
    for source in (mapping, mapping.get("pipeline") if isinstance(mapping.get("pipeline"), Mapping) else {}):
        for key in keys:
            if source.get(key) not in (None, ""):
                return source[key]
    return default


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", str(text).lower()).strip("-.") or "unknown"


def describe(parts: Mapping[str, Mapping]) -> dict[str, Any]:
    """Normalised facts about a pipeline from its config/metadata/metrics/thresholds dicts."""
    config, meta = parts.get("config") or {}, parts.get("metadata") or {}
    metrics, thresholds = parts.get("metrics") or {}, parts.get("thresholds") or {}
    data = meta.get("data")
    data = data if isinstance(data, Mapping) else ({"dataset": data} if data else {})
    method = str(_get(config, "method", default="") or _get(meta, "method", default=""))
    scheme = str(_get(config, "scheme", default="") or _get(meta, "scheme", default=""))
    dataset = str(data.get("dataset") or data.get("name") or meta.get("dataset") or "")
    noise = data.get("noise", meta.get("noise", ""))
    noise = f"n{noise:g}" if isinstance(noise, (int, float)) and not isinstance(noise, bool) else str(noise or "")
    task = str(_get(config, "task", default="") or meta.get("task") or "segmentation")
    task = "denoising" if task.startswith("denois") else "segmentation"
    if task == "denoising":  # its config rebuilds a U-Net, but what it is, is the N2V stage
        method, scheme = "n2v", "denoiser"
    scores = metrics.get("test") if isinstance(metrics.get("test"), Mapping) else metrics
    scores = {k: float(v) for k, v in scores.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    baseline = metrics.get("baseline") if isinstance(metrics.get("baseline"), Mapping) else {}
    name = f"{_slug(dataset)}-{_slug(noise)}/{_slug(method)}-{_slug(scheme)}" if dataset and method else "pipeline"
    what = "Noise2Void denoiser" if task == "denoising" else f"{method or 'segmentation'} {scheme} pipeline".strip()
    on = f" for {dataset}" + (f" with noise {noise}" if noise else "") if dataset else ""
    return {
        "method": method,
        "scheme": scheme,
        "task": task,
        "dataset": dataset,
        "noise": noise,
        "preset": str(_get(meta, "preset", default="") or _get(config, "preset", default="")),
        "metrics": scores,
        "baseline": dict(baseline),
        "thresholds": dict(thresholds),
        "data": dict(data),
        "default_name": name,
        "summary": f"VoidSeg {what}{on}.",
    }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "-" if value is None else str(value)


def _architecture(config: Mapping, method: str) -> str:
    backbone = _get(config, "backbone", default={}) or {}
    head = _get(config, "head", default={}) or {}
    text = f"U-Net, depth {backbone.get('depth', '?')}, {backbone.get('base_filters', '?')} base filters, 3x3 convolutions"
    if backbone.get("batch_norm", True):
        text += ", batch norm"
    if method == "stardist" or head.get("kind") == "stardist":
        text += f"; StarDist head: object probability + {head.get('n_rays', 32)} radial distances"
    elif method:
        text += "; VoidSeg head: 3 class logits + 1 denoised intensity"
    if _get(config, "has_denoiser", default=False):
        text += "; preceded by a Noise2Void denoiser U-Net"
    return text


def _collect(source: str | os.PathLike | Mapping[str, Any]) -> dict[str, dict]:
    if isinstance(source, Mapping):
        unknown = sorted(set(source) - set(PARTS))
        if unknown:
            raise ValueError(f"render_model_card: unknown part(s) {unknown}; expected keys among {list(PARTS)}")
        return {name: dict(source.get(name) or {}) for name in PARTS}
    folder = Path(source)
    if not folder.is_dir():
        raise FileNotFoundError(f"render_model_card: {folder} is not a pipeline folder")
    return read_parts(folder)


def render_model_card(
    source: str | os.PathLike | Mapping[str, Any],
    *,
    name: str | None = None,
    repo_id: str | None = None,
    baseline: Mapping[str, Any] | None = None,
    license: str = "bsd-3-clause",
    template_path: str | os.PathLike | None = None,
) -> str:
    """Render the model card (README.md text) of a pipeline.

    ``source`` is a pipeline folder or a dict with any of the keys ``config``,
    ``metadata``, ``metrics``, ``thresholds``.  ``name`` is the zoo name used in the
    usage example (default: derived from the metadata); ``repo_id`` makes the example use
    ``hf://repo_id`` instead.  ``baseline`` (``{"name": ..., "ap": ..., "seg": ...}``)
    adds a comparison row; by default it is read from ``metrics["baseline"]``.
    """
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    parts = _collect(source)
    info = describe(parts)
    meta = parts["metadata"]
    model_name = name or info["default_name"]
    base = dict(baseline) if baseline is not None else info["baseline"]
    metric_keys = [k for k in _METRIC_LABELS if k in info["metrics"]] or ["ap", "seg"]
    segmenting = info["task"] == "segmentation"
    task_type = "image-segmentation" if segmenting else "image-to-image"

    dataset_id = _slug(info["dataset"]) if info["dataset"] else None
    eval_results = [
        EvalResult(
            task_type=task_type,
            dataset_type=dataset_id,
            dataset_name=f"{info['dataset']} ({info['noise'] or 'noise-free'}), test split",
            dataset_split="test",
            metric_type=key,
            metric_name=_METRIC_LABELS[key],
            metric_value=round(info["metrics"][key], 4),
        )
        for key in metric_keys
        if key in info["metrics"] and dataset_id
    ]
    tags = ["keras-voidseg", "keras", "noise2void", "voidseg", "microscopy", "biology"]
    tags += [info["method"]] if info["method"] in ("stardist", "unet") else []
    tags += ["segmentation", "instance-segmentation"] if segmenting else ["denoising"]
    card_data = ModelCardData(
        library_name="keras",
        license=license,
        pipeline_tag=task_type,
        tags=tags,
        datasets=[dataset_id] if dataset_id else None,
        model_name=model_name,
        eval_results=eval_results or None,
    )
    versions = ", ".join(
        f"{label} {meta[key]}"
        for key, label in (("keras_voidseg_version", "keras_voidseg"), ("keras_version", "Keras"), ("backend", "backend"))
        if meta.get(key)
    )
    date = meta.get("date")
    card = ModelCard.from_template(
        card_data,
        template_path=str(template_path or TEMPLATE_PATH),
        model_name=model_name,
        summary=info["summary"],
        task=info["task"],
        method=info["method"],
        method_title=_METHOD_TITLES.get(info["method"], info["method"] or "Noise2Void denoiser"),
        scheme=info["scheme"],
        scheme_text=_SCHEME_TEXT.get(info["scheme"], ""),
        architecture=_architecture(parts["config"], info["method"]),
        parameter_count=f"{meta['parameter_count']:,}" if isinstance(meta.get("parameter_count"), int) else "unknown",
        thresholds=info["thresholds"],
        dataset=info["dataset"],
        noise=info["noise"],
        data_text=", ".join(f"{k}: {v}" for k, v in info["data"].items() if k not in ("dataset", "name", "noise")),
        preset=info["preset"],
        seed=meta.get("seed", "unknown"),
        command=meta.get("command") or "# training command not recorded",
        trained_on=f"{date} with {versions}" if date and versions else (date or versions or "an unrecorded date"),
        metric_labels=[_METRIC_LABELS[k] for k in metric_keys],
        metric_values=[_fmt(info["metrics"].get(k)) for k in metric_keys],
        baseline_values=[_fmt(base.get(k)) for k in metric_keys] if base else [],
        baseline_name=base.get("name", "") if base else "",
        load_name=f"hf://{repo_id}" if repo_id else model_name,
        versions=versions or "not recorded",
    )
    return str(card)


def write_model_card(folder: str | os.PathLike, **kwargs: Any) -> Path:
    """Render the card of ``folder`` and write it to ``folder/README.md`` atomically."""
    return write_text_atomic(Path(folder) / "README.md", render_model_card(folder, **kwargs))
