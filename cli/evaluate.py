"""``kvs evaluate GT PRED``: AP / SEG / precision / recall / F1 of predicted label images.

GT and PRED are label TIFFs or folders of them.  Folders are paired by name: the file name
without ``.tif``/``.tiff`` and without a trailing ``.labels``/``.label``/``.mask``/``.masks``
tag, so ``img01.labels.tif`` (what ``kvs predict`` writes) pairs with ``img01.tif``.  A GT
folder with a ``masks/`` sub-folder (the ``kvs data synth`` layout) is read from there.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import click

TAGS = (".labels", ".label", ".masks", ".mask")
COLUMNS = ("image", "thresh", "ap", "seg", "precision", "recall", "f1", "tp", "fp", "fn", "n_true", "n_pred",
           "mean_matched_score", "mean_true_score", "panoptic_quality")
DATASET = "ALL"


def pair_key(path: Path) -> str:
    """The name a label file is paired by (``a.labels.tif`` -> ``a``)."""
    name = path.name
    for suffix in (".tiff", ".tif", ".TIFF", ".TIF"):
        name = name.removesuffix(suffix)
    for tag in TAGS:
        if name.endswith(tag) and len(name) > len(tag):
            return name[: -len(tag)]
    return name


def label_files(path: Path, role: str) -> dict[str, Path]:
    """``{pair key: file}`` of a label TIFF or a folder of them (errors name the files)."""
    from keras_voidseg.data.io import list_tiffs

    if path.is_file():
        return {pair_key(path): path}
    folder = path / "masks" if role == "GT" and (path / "masks").is_dir() else path
    files: dict[str, Path] = {}
    for f in list_tiffs(folder):
        key = pair_key(f)
        if key in files:
            raise click.ClickException(f"{role}: {files[key].name} and {f.name} in {folder} both pair as {key!r}; "
                                       "keep one label file per image")
        files[key] = f
    if not files:
        raise click.ClickException(f"{role}: {folder} holds no .tif/.tiff label images")
    return files


def pair_files(gt: Path, pred: Path) -> tuple[list[tuple[str, Path, Path]], list[Path]]:
    """``(name, gt file, pred file)`` sorted by name, and the prediction files without GT."""
    truth, predicted = label_files(gt, "GT"), label_files(pred, "PRED")
    if gt.is_file() and pred.is_file():
        return [(pair_key(gt), gt, pred)], []
    if pred.is_file() and len(truth) > 1:
        raise click.ClickException(f"PRED {pred} is one file but GT {gt} holds {len(truth)} label images; "
                                   "pass a folder of predictions")
    if pred.is_file():
        predicted = {next(iter(truth)): pred}
    missing = sorted(set(truth) - set(predicted))
    if missing:
        where = pred if pred.is_dir() else pred.parent
        raise click.ClickException(
            f"no prediction for {truth[missing[0]]}: expected {missing[0]}.tif or {missing[0]}.labels.tif in {where}"
            + (f" ({len(missing) - 1} more missing)" if len(missing) > 1 else ""))
    extra = [predicted[k] for k in sorted(set(predicted) - set(truth))]
    return [(k, truth[k], predicted[k]) for k in sorted(truth)], extra


def parse_thresholds(text: str) -> list[float]:
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        values = []
    if not values or not all(0.0 <= t <= 1.0 for t in values):
        raise click.BadParameter(f"{text!r}: give IoU thresholds in [0, 1] such as 0.5,0.7,0.9", param_hint="--thresh")
    return values


def score_rows(names, gts, preds, thresholds) -> list[dict]:
    """One row per image and threshold, then the data-set rows (image ``ALL``)."""
    from keras_voidseg.metrics import matching, matching_dataset, seg_score, seg_score_dataset

    rows = []
    for name, y_true, y_pred in zip(names, gts, preds):
        seg = seg_score(y_true, y_pred)
        rows += [_row(name, m, seg) for m in matching(y_true, y_pred, thresh=thresholds)]
    seg_all = seg_score_dataset(gts, preds)
    rows += [_row(DATASET, m, seg_all) for m in matching_dataset(gts, preds, thresh=thresholds)]
    return rows


def _row(name: str, m, seg: float) -> dict:
    values = m.to_dict()
    return {"image": name, "seg": float(seg), **{k: values[k] for k in COLUMNS if k in values}}


def format_table(rows: list[dict]) -> str:
    width = max(12, *(len(r["image"]) for r in rows))
    lines = [f"{'image':<{width}} {'IoU':>5} {'AP':>6} {'SEG':>6} {'prec':>6} {'recall':>6} {'F1':>6} "
             f"{'TP':>6} {'FP':>6} {'FN':>6}"]
    for i, r in enumerate(rows):
        if r["image"] == DATASET and (i == 0 or rows[i - 1]["image"] != DATASET):
            lines.append("-" * len(lines[0]))
        lines.append(f"{r['image']:<{width}} {r['thresh']:5.2f} {r['ap']:6.3f} {r['seg']:6.3f} {r['precision']:6.3f} "
                     f"{r['recall']:6.3f} {r['f1']:6.3f} {r['tp']:6d} {r['fp']:6d} {r['fn']:6d}")
    return "\n".join(lines)


def write_results(out: Path, rows: list[dict], meta: dict) -> None:
    """CSV (one row per image and threshold) or JSON (meta + rows), written atomically."""
    from keras_voidseg.data.io import atomic_write

    if out.suffix.lower() == ".csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=[c for c in COLUMNS if c in rows[0]], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        text = buffer.getvalue()
    else:
        text = json.dumps({**meta, "per_image": [r for r in rows if r["image"] != DATASET],
                           "dataset": [r for r in rows if r["image"] == DATASET]}, indent=2) + "\n"
    atomic_write(out, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


@click.command("evaluate", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("gt", type=click.Path(exists=True, path_type=Path))
@click.argument("pred", type=click.Path(exists=True, path_type=Path))
@click.option("--thresh", default="0.5", show_default=True, metavar="T[,T...]",
              help="IoU threshold(s) for AP/precision/recall/F1, comma separated.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the results to this .json or .csv file.")
def evaluate(gt: Path, pred: Path, thresh: str, out: Path | None):
    """Score predicted label TIFFs PRED against ground-truth label TIFFs GT.

    GT and PRED are files or folders; folders are paired by file name, ignoring a
    .labels/.mask tag (img01.labels.tif pairs with img01.tif).  Prints one row per image
    and threshold and the data-set row ALL: AP = TP/(TP+FP+FN) (StarDist's accuracy),
    CTC SEG, precision, recall, F1 and TP/FP/FN (data set: counts summed over images).

    \b
    Example:
      kvs evaluate data/synth/test/masks predictions --thresh 0.5,0.7,0.9 --out scores.json
    """
    from keras_voidseg.data.io import read_labels

    thresholds = parse_thresholds(thresh)
    if out is not None and out.suffix.lower() not in (".json", ".csv"):
        raise click.BadParameter(f"{out}: use a .json or .csv file name", param_hint="--out")
    pairs, extra = pair_files(gt, pred)
    names = [name for name, _, _ in pairs]
    gts, preds = [], []
    for name, gt_file, pred_file in pairs:
        y_true, y_pred = read_labels(gt_file), read_labels(pred_file)
        if y_true.shape != y_pred.shape:
            raise click.ClickException(f"{pred_file} has shape {y_pred.shape} but its ground truth {gt_file} "
                                       f"has shape {y_true.shape}; predict on the full image")
        gts.append(y_true)
        preds.append(y_pred)
    if extra:
        click.echo(f"note: {len(extra)} prediction file(s) without ground truth ignored, e.g. {extra[0]}", err=True)
    rows = score_rows(names, gts, preds, thresholds)
    click.echo(format_table(rows))
    if out is not None:
        write_results(out, rows, {"gt": str(gt), "pred": str(pred), "thresholds": thresholds,
                                  "n_images": len(pairs)})
        click.echo(f"wrote {out}")
