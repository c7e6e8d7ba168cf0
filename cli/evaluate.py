"""``kvs evaluate GT PRED``: AP / SEG / precision / recall / F1 of label images."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import click


def _label_files(path: Path) -> dict[str, Path]:
    from keras_voidseg.data.io import list_tiffs

    if path.is_file():
        return {path.stem: path}
    folder = path / "masks" if (path / "masks").is_dir() else path
    files = list_tiffs(folder)
    if not files:
        raise click.ClickException(f"{folder} holds no .tif/.tiff label images")
    return {f.name.split(".")[0]: f for f in files}


@click.command("evaluate", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("gt", type=click.Path(exists=True, path_type=Path))
@click.argument("pred", type=click.Path(exists=True, path_type=Path))
@click.option("--thresh", default="0.5", show_default=True, help="IoU threshold(s), comma separated.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the table as .json or .csv (by extension).")
def evaluate(gt, pred, thresh, out):
    """Score predicted label TIFFs PRED against ground-truth label TIFFs GT (files or folders,
    paired by file name up to the first dot, so a.labels.tif pairs with a.tif).

    \b
    Example:
      kvs evaluate data/test/masks predictions --thresh 0.5,0.7 --out scores.json
    """
    from keras_voidseg.data.io import atomic_write, read_labels
    from keras_voidseg.metrics import matching, matching_dataset, seg_score, seg_score_dataset

    try:
        thresholds = [float(t) for t in thresh.split(",")]
    except ValueError:
        raise click.BadParameter(f"{thresh!r}: give numbers such as 0.5,0.7", param_hint="--thresh") from None
    truth, predicted = _label_files(gt), _label_files(pred)
    missing = sorted(set(truth) - set(predicted))
    if missing:
        raise click.ClickException(f"no prediction for {truth[missing[0]]} (expected a file named {missing[0]}.* in {pred})")
    names = sorted(truth)
    gts = [read_labels(truth[n]) for n in names]
    preds = [read_labels(predicted[n]) for n in names]
    rows = []
    for name, y_true, y_pred in zip(names, gts, preds):
        seg = seg_score(y_true, y_pred)
        for m in matching(y_true, y_pred, thresh=thresholds):
            rows.append({"image": name, "seg": seg, **m.to_dict()})
    seg_all = seg_score_dataset(gts, preds)
    for m in matching_dataset(gts, preds, thresh=thresholds):
        rows.append({"image": "ALL", "seg": seg_all, **m.to_dict()})
    header = f"{'image':<24} {'IoU':>5} {'AP':>6} {'SEG':>6} {'prec':>6} {'recall':>6} {'F1':>6} {'TP':>5} {'FP':>5} {'FN':>5}"
    click.echo(header)
    for r in rows:
        click.echo(f"{r['image'][:24]:<24} {r['thresh']:5.2f} {r['ap']:6.3f} {r['seg']:6.3f} {r['precision']:6.3f} "
                   f"{r['recall']:6.3f} {r['f1']:6.3f} {r['tp']:5d} {r['fp']:5d} {r['fn']:5d}")
    if out is not None:
        if out.suffix == ".csv":
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
            text = buffer.getvalue()
        else:
            text = json.dumps(rows, indent=2) + "\n"
        atomic_write(out, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        click.echo(f"wrote {out}")
