"""``kvs bench``: benchmarks that print project-vs-reference ratios measured in the same run.

The benchmark code lives in the top-level ``benchmarks/`` folder of a source checkout
(it needs the reference implementations from the ``test`` extra).
"""

from __future__ import annotations

import importlib

import click


def _module(name: str):
    import sys
    from pathlib import Path

    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "benchmarks").is_dir() and str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))  # the console script does not put the checkout on sys.path
    try:
        return importlib.import_module(f"benchmarks.{name}")
    except ModuleNotFoundError as exc:
        raise click.ClickException(f"benchmarks.{name} not found ({exc}); run kvs bench from a source "
                                   "checkout with the test extra installed (make install)") from None


@click.group("bench", context_settings={"help_option_names": ["-h", "--help"]})
def bench():
    """Benchmarks: keras_voidseg vs reference implementations (same run, same cores).

    \b
    Examples:
      kvs bench postprocess --size 2048
      kvs bench inference --sizes 1024
      kvs bench training --threads 1
      kvs bench all
    """


@bench.command("postprocess")
@click.option("--size", default=2048, show_default=True, type=click.IntRange(min=128), help="Scene side.")
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(min=1), help="Timed runs (best kept).")
@click.option("--scaling/--no-scaling", default=True, show_default=True, help="Also time 512² ... 4096² scenes.")
def postprocess(size, repeats, scaling):
    """star_dist, polygon NMS, polygons_to_label, matching and SEG vs stardist / py-ctcmetrics."""
    _module("bench_postprocess").run(size, repeats, scaling)


_THREADS = click.option("--threads", default=0, show_default=True, type=click.IntRange(min=0),
                        help="Backend CPU threads (0: library defaults; 1 on a busy machine).")


@bench.command("inference")
@click.option("--sizes", default="1024,2048", show_default=True, help="Image sides, comma separated.")
@click.option("--repeats", default=2, show_default=True, type=click.IntRange(min=1), help="Timed runs (best kept).")
@_THREADS
def inference(sizes, repeats, threads):
    """Tiled U-Net prediction (cpu preset): MP/s and peak RSS under TensorFlow and PyTorch.

    \b
    Example:
      kvs bench inference --sizes 2048 --threads 1
    """
    _module("bench_inference").main(["--sizes", *sizes.split(","), "--repeats", str(repeats),
                                     "--threads", str(threads)])


@bench.command("training")
@click.option("--steps", default=20, show_default=True, type=click.IntRange(min=4), help="Batches per measurement.")
@_THREADS
def training(steps, threads):
    """Data-pipeline share of a training step (N2V, 3-class, StarDist) under TensorFlow and PyTorch.

    \b
    Example:
      kvs bench training --steps 20 --threads 1
    """
    _module("bench_training").main(["--steps", str(steps), "--threads", str(threads)])


#: every benchmark ``kvs bench all`` runs, in order: name -> (command, its default options)
BENCHMARKS = {
    "postprocess": (postprocess, {"size": 2048, "repeats": 3, "scaling": True}),
    "inference": (inference, {"sizes": "1024,2048", "repeats": 2, "threads": 0}),
    "training": (training, {"steps": 20, "threads": 0}),
}


@bench.command("all")
@click.pass_context
def run_all(ctx):
    """Every benchmark with its defaults (postprocess, inference, training)."""
    for name, (command, options) in BENCHMARKS.items():
        click.echo(f"== {name} ==")
        ctx.invoke(command, **options)
