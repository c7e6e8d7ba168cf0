"""``kvs train``: train one VoidSeg scheme and write a pipeline folder."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from keras_voidseg.config import METHODS, PRESETS, SCHEMES


@click.command("train", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--method", type=click.Choice(METHODS), default="unet", show_default=True,
              help="Segmentation network: U-Net 3-class or StarDist.")
@click.option("--scheme", type=click.Choice(SCHEMES), default="baseline", show_default=True,
              help="How N2V denoising is used (see README).")
@click.option("--data", "source", default="synthetic", show_default=True,
              help="'synthetic' (BBBC004-like) or a folder with images/*.tif and masks/*.tif.")
@click.option("--noise", default="200", show_default=True,
              help="Gaussian noise std added to the raw images (e.g. 200 or n200; 0 = none).")
@click.option("--subset", default="P10", show_default=True,
              help="Labelled training subset P1..P10 (paper sizes, in patches).")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default="cpu", show_default=True,
              help="paper (faithful, GPU), cpu (minutes on 2 cores) or smoke (seconds).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Pipeline folder to write (training resumes if it exists).")
@click.option("--seed", default=0, show_default=True, type=int, help="Data, split and training seed.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override the preset's epochs.")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Override the preset's steps per epoch.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Override the preset's batch size.")
@click.option("--images", "n_images", type=click.IntRange(min=3), default=None,
              help="Number of images (synthetic: generated; folder: first N).")
@click.option("--size", type=click.IntRange(min=16), default=None, help="Synthetic image side.")
@click.option("--denoiser-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the shared N2V stage lives [default: OUT/../n2v-<data key>].")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train(method, scheme, source, noise, subset, preset, out, seed, epochs, steps, batch_size, n_images, size,
          denoiser_dir, quiet):
    """Train METHOD with SCHEME and write a pipeline folder with test-split AP/SEG.

    Repeating the same command after an interruption resumes where it stopped; the N2V
    stage is trained once per data set, noise, preset and seed and shared between schemes.

    \b
    Example:
      kvs train --method stardist --scheme sequential --data synthetic --noise 200 \\
                --subset P3 --preset cpu --out runs/stardist-sequential
    """
    from keras_voidseg.experiment import check_subset, prepare_data
    from keras_voidseg.schemes import scheme_spec
    from keras_voidseg.workflow import train_pipeline, train_preset

    scheme_spec(scheme, method)
    check_subset(subset)
    chosen = train_preset(preset, epochs, steps, seed, batch_size)
    data = prepare_data(source, noise, seed=seed, preset=preset, n_images=n_images, size=size)
    command = "kvs " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["train"] else None
    pipe = train_pipeline(data, method, scheme, subset, chosen, out, denoiser_dir=denoiser_dir,
                          command=command, verbose=0 if quiet else 1)
    m = pipe.metrics
    click.echo(f"{method}-{scheme} {subset}: test AP@0.5 {m['ap']:.3f}  SEG {m['seg']:.3f}  "
               f"(precision {m['precision']:.3f}, recall {m['recall']:.3f}; "
               f"thresholds {pipe.thresholds}) -> {out}")
