"""``kvs data``: synthetic data and data-set tools."""

from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np


@click.group("data", context_settings={"help_option_names": ["-h", "--help"]})
def data():
    """Synthetic data and data-set tools.

    \b
    Examples:
      kvs data synth --out data/synth --images 8 --size 950 --seed 0
      kvs data info data/synth
    """


@data.command("synth")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; gets images/, masks/ and preview.png.")
@click.option("--images", "n_images", default=4, show_default=True, type=click.IntRange(min=1),
              help="Number of images.")
@click.option("--size", default=950, show_default=True, type=click.IntRange(min=16),
              help="Image side in pixels (BBBC004: 950).")
@click.option("--nuclei", "n_nuclei", default=None, type=click.IntRange(min=0),
              help="Nuclei per image [default: BBBC004 density, 300 per 950x950].")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed.")
@click.option("--overwrite", is_flag=True, help="Replace TIFFs already in OUT/images.")
def synth(out: Path, n_images: int, size: int, n_nuclei: int | None, seed: int, overwrite: bool):
    """Write a BBBC004-like synthetic data set of fluorescence nuclei.

    Images are clean 8-bit intensities saved as uint8 TIFF (OUT/images/synth_000.tif, ...);
    instance masks are uint16 TIFF (OUT/masks/synth_000.tif, ids 1..N, 0 = background);
    OUT/preview.png shows the first image next to its labels.  Image i is the same for a
    given seed whatever --images is.  Add noise at training time (e.g. --noise n200).

    \b
    Example:
      kvs data synth --out data/synth --images 8 --size 950 --seed 0
    """
    from keras_voidseg.data.io import list_tiffs, write_tiff
    from keras_voidseg.data.synthetic import synthesize
    from keras_voidseg.preview import label_overlay, save_montage

    if out.exists() and not out.is_dir():
        raise click.ClickException(f"--out {out} exists and is not a folder")
    if (out / "images").is_dir() and list_tiffs(out / "images") and not overwrite:
        raise click.ClickException(
            f"{out / 'images'} already holds TIFF files; pass --overwrite to replace them "
            "or choose another --out folder"
        )
    start = time.perf_counter()
    synth_seconds = 0.0
    first = None
    with click.progressbar(range(n_images), label="Synthesising", show_pos=True) as bar:
        for i in bar:
            t0 = time.perf_counter()
            image, labels = synthesize(size, n_nuclei=n_nuclei, seed=(seed, i))
            synth_seconds += time.perf_counter() - t0
            if labels.max() > np.iinfo(np.uint16).max:
                raise click.ClickException("more than 65535 nuclei do not fit in uint16 masks")
            image8 = np.clip(np.round(image), 0, 255).astype(np.uint8)
            write_tiff(out / "images" / f"synth_{i:03d}.tif", image8)
            write_tiff(out / "masks" / f"synth_{i:03d}.tif", labels.astype(np.uint16))
            if first is None:
                first = (image8, labels)
    save_montage(out / "preview.png",
                 [("image", first[0]), ("labels", label_overlay(first[0], first[1]))])
    click.echo(
        f"Wrote {n_images} image(s) of {size}x{size} to {out}/images and {out}/masks "
        f"({synth_seconds / n_images:.2f} s per image to synthesise, "
        f"{time.perf_counter() - start:.1f} s in all); preview: {out / 'preview.png'}"
    )


@data.command("info")
@click.argument("directory", type=click.Path(path_type=Path))
def info(directory: Path):
    """Validate a data-set folder (DIR/images + DIR/masks) and print counts and shapes.

    \b
    Example:
      kvs data info data/synth
    """
    from keras_voidseg.data.io import load_folder

    images, labels, names = load_folder(directory, require_masks=False)
    shapes = sorted({img.shape for img in images})
    lo = min(float(img.min()) for img in images)
    hi = max(float(img.max()) for img in images)
    click.echo(f"{directory}: {len(images)} image(s)" + ("" if labels else " (no masks)"))
    click.echo(f"  shapes: {', '.join('x'.join(map(str, s)) for s in shapes[:6])}"
               + (" ..." if len(shapes) > 6 else ""))
    click.echo(f"  intensity range: {lo:g} .. {hi:g}")
    if labels:
        counts = [len(np.unique(lab[lab > 0])) for lab in labels]
        click.echo(f"  objects per image: min {min(counts)}, mean {np.mean(counts):.1f}, "
                   f"max {max(counts)} ({sum(counts)} in all)")
    click.echo("  OK: images and masks pair up and validate")
