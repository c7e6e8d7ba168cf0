"""``kvs predict`` and ``kvs denoise``: run a pipeline (folder or zoo name) on TIFF images."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

_N_TILES = click.option("--n-tiles", default=None, metavar="NY,NX",
                        help="Tiles per axis (default: chosen from a memory budget).")


def _parse_tiles(text: str | None):
    if text is None:
        return None
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) not in (1, 2) or min(values) < 1:
        raise click.BadParameter(f"{text!r}: give one or two positive integers, e.g. 2,2", param_hint="--n-tiles")
    return values * 2 if len(values) == 1 else values


def _inputs(paths):
    """(image, name) pairs from TIFF files and folders, names unique."""
    from keras_voidseg.data.io import load_images

    seen = {}
    for path in paths:
        images, names = load_images(path)
        for image, name in zip(images, names):
            if name in seen:
                raise click.ClickException(f"two inputs are both named {name!r} ({seen[name]} and {path}); "
                                           "outputs would overwrite each other")
            seen[name] = path
            yield image, name


def _load(model: str):
    from keras_voidseg.hub import load_pretrained

    return load_pretrained(model)


@click.command("predict", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("model")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder for <name>.labels.tif and <name>.overlay.png.")
@_N_TILES
@click.option("--prob-thresh", type=float, default=None, help="Override the tuned StarDist probability threshold.")
@click.option("--nms-thresh", type=float, default=None, help="Override the tuned StarDist NMS threshold.")
@click.option("--fg-thresh", type=float, default=None, help="Override the tuned U-Net foreground threshold.")
def predict(model, inputs, out, n_tiles, prob_thresh, nms_thresh, fg_thresh):
    """Segment nuclei in INPUTS (TIFF files or folders) with MODEL (folder or zoo name).

    Writes int32 label TIFFs and PNG overlays (image with coloured object outlines).

    \b
    Example:
      kvs predict synthetic-bbbc004-n200/stardist-sequential data/noisy/*.tif --out predictions
    """
    from keras_voidseg.data.io import write_tiff
    from keras_voidseg.preview import label_overlay, save_png

    pipe = _load(model)
    if pipe.task != "segmentation":
        raise click.ClickException(f"{model} is a denoising pipeline; use kvs denoise")
    tiles = _parse_tiles(n_tiles)
    out.mkdir(parents=True, exist_ok=True)
    for image, name in _inputs(inputs):
        labels, _ = pipe.predict_instances(image, tiles, prob_thresh=prob_thresh, nms_thresh=nms_thresh,
                                           fg_thresh=fg_thresh)
        write_tiff(out / f"{name}.labels.tif", labels)
        save_png(out / f"{name}.overlay.png", label_overlay(image, labels))
        click.echo(f"{name}: {len(np.unique(labels[labels > 0]))} objects")


@click.command("denoise", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("model")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder for <name>.denoised.tif (float32, input intensity units).")
@_N_TILES
def denoise(model, inputs, out, n_tiles):
    """Denoise INPUTS with MODEL's Noise2Void network (a denoiser or sequential pipeline).

    \b
    Example:
      kvs denoise synthetic-bbbc004-n200/n2v-denoiser data/noisy/*.tif --out denoised
    """
    from keras_voidseg.data.io import write_tiff

    pipe = _load(model)
    tiles = _parse_tiles(n_tiles)
    out.mkdir(parents=True, exist_ok=True)
    for image, name in _inputs(inputs):
        write_tiff(out / f"{name}.denoised.tif", pipe.denoise(image, tiles).astype("float32"))
        click.echo(f"{name}: denoised")
