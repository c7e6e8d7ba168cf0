"""``kvs demo``: the main job of ``make demo``, offline.

With pipelines shipped in the zoo (``zoo/catalog.json`` entries with ``shipped: true``)
it makes a noisy BBBC004-like sample image (noise 200), runs every shipped pipeline on it
(denoising and segmentation), writes their outputs as TIFFs, one side-by-side PNG (noisy |
N2V denoised | one panel per segmentation pipeline | ground truth) and prints AP / SEG per
pipeline.  Without shipped pipelines it writes the data preview (clean | noisy | labels).
Pipelines are picked from the catalog, never by a name written here.
"""

from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np

NOISE = 200.0
SIZE = 384


def _sample(seed: int):
    from keras_voidseg.data.noise import add_gaussian_noise
    from keras_voidseg.data.synthetic import synthesize

    clean, labels = synthesize(SIZE, seed=(seed, 999))
    return clean, add_gaussian_noise(clean, NOISE, seed=seed), labels


def _write_preview(out: Path, clean, noisy, labels) -> Path:
    from keras_voidseg.preview import label_overlay, save_montage

    return save_montage(out / "preview.png", [("clean", clean), (f"noisy (n{NOISE:g})", noisy),
                                              ("labels", label_overlay(clean, labels))])


@click.command("demo", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--out", default="demo-out", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the sample image and its noise.")
def demo(out: Path, seed: int):
    """Run the shipped pipelines on a noisy sample image and compare them (offline).

    \b
    Example:
      kvs demo --out demo-out
    """
    import zoo
    from keras_voidseg.data.io import write_tiff

    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    clean, noisy, labels = _sample(seed)
    write_tiff(out / "noisy.tif", noisy.astype(np.float32))
    write_tiff(out / "ground_truth.tif", labels)
    shipped = [e for e in zoo.load_catalog() if e.shipped]
    if not shipped:
        path = _write_preview(out, clean, noisy, labels)
        click.echo(f"no shipped pipelines in the zoo yet: wrote the data preview {path}")
        return
    from keras_voidseg.hub import load_pretrained
    from keras_voidseg.metrics import matching, seg_score
    from keras_voidseg.preview import label_overlay, save_montage

    panels = [(f"noisy (n{NOISE:g})", noisy)]
    rows = []
    for entry in sorted(shipped, key=lambda e: (e.method != "", e.method, e.scheme != "baseline", e.scheme)):
        pipe = load_pretrained(entry.name)
        slug = entry.name.replace("/", "_")
        if pipe.task == "denoising":
            denoised = pipe.denoise(noisy)
            write_tiff(out / f"{slug}.denoised.tif", denoised.astype(np.float32))
            panels.append(("N2V denoised", denoised))
            continue
        predicted, _ = pipe.predict_instances(noisy)
        write_tiff(out / f"{slug}.labels.tif", predicted)
        m = matching(labels, predicted)
        rows.append((entry.name, m.ap, seg_score(labels, predicted), m.tp, m.fp, m.fn))
        panels.append((f"{entry.method} {entry.scheme}", label_overlay(noisy, predicted)))
    panels.append(("ground truth", label_overlay(clean, labels)))
    path = save_montage(out / "comparison.png", panels)
    click.echo(f"{'pipeline':<40} {'AP@0.5':>7} {'SEG':>6} {'TP':>4} {'FP':>4} {'FN':>4}")
    for name, ap, seg, tp, fp, fn in rows:
        click.echo(f"{name:<40} {ap:7.3f} {seg:6.3f} {tp:4d} {fp:4d} {fn:4d}")
    click.echo(f"wrote {path} and the label TIFFs in {out} ({time.perf_counter() - start:.1f} s)")
