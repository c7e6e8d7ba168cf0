"""``kvs reproduce``: the VoidSeg experiment grid, resumable, local or on Dask."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import click

from keras_voidseg.config import PRESETS


@click.command("reproduce", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data", default="synthetic", show_default=True,
              help="'synthetic' (BBBC004-like) or a folder with images/*.tif and masks/*.tif.")
@click.option("--noise", "noises", default="200", show_default=True, help="Noise levels, e.g. 150,200.")
@click.option("--subsets", default="P1,P3,P5,P10", show_default=True, help="Training subsets.")
@click.option("--methods", default="unet,stardist", show_default=True, help="unet and/or stardist.")
@click.option("--schemes", default="all", show_default=True,
              help="Comma-separated schemes or 'all' (joint is trained for the U-Net only).")
@click.option("--repeats", default=2, show_default=True, type=click.IntRange(min=1),
              help="Repetitions per cell (training seeds seed, seed+1, ...).")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default="cpu", show_default=True)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Grid folder (repeat the command to resume; must be shared by all workers).")
@click.option("--seed", default=0, show_default=True, type=int, help="Data seed; repeat r trains with seed+r.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Override the preset's epochs (segmenters; N2V keeps the preset's schedule).")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Override the preset's steps per epoch (segmenters).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Override the preset's batch size (segmenters).")
@click.option("--n2v-epochs", type=click.IntRange(min=1), default=None, help="Override the N2V stage's epochs.")
@click.option("--n2v-steps", type=click.IntRange(min=1), default=None, help="Override the N2V stage's steps per epoch.")
@click.option("--images", "n_images", type=click.IntRange(min=3), default=None, help="Number of images.")
@click.option("--size", type=click.IntRange(min=16), default=None, help="Synthetic image side.")
@click.option("--executor", type=click.Choice(["dask", "local"]), default="dask", show_default=True,
              help="dask: embedded local cluster, or the cluster at --address; local: in this process.")
@click.option("--address", default=None, help="Scheduler of a running Dask cluster, e.g. tcp://host:8786.")
@click.option("--workers", "n_workers", type=click.IntRange(min=1), default=None,
              help="Workers of the embedded cluster [default: one per 4 cores].")
@click.option("--no-figures", is_flag=True, help="Only results.csv and table.md.")
@click.option("--report-only", is_flag=True,
              help="Train nothing: write the report of the cells finished so far (e.g. while a grid runs).")
def reproduce(data, noises, subsets, methods, schemes, repeats, preset, out, seed, epochs, steps,
              batch_size, n2v_epochs, n2v_steps, n_images, size, executor, address, n_workers, no_figures, report_only):
    """Train the grid data x noise x subset x method x scheme x repeat and summarise it.

    Each cell is one `kvs train` job; finished cells are skipped when the command is
    repeated, and the N2V stage of each noise/repeat is trained once and shared. Writes
    results.csv, table.md and figures into OUT.

    \b
    Examples:
      kvs reproduce --noise 200 --subsets P1,P3,P5,P10 --repeats 2 --preset cpu --out grid
      dask scheduler &  dask worker tcp://host:8786 &   # on each machine
      kvs reproduce --preset paper --out /shared/grid --address tcp://host:8786
    """
    from keras_voidseg.reproduce import GridSpec, run_grid, write_report

    if address and executor == "local":
        raise click.UsageError("--address needs --executor dask")
    spec = GridSpec.parse(noises=noises, subsets=subsets, methods=methods, schemes=schemes,
                          data=data, repeats=repeats, preset=preset, seed=seed, epochs=epochs,
                          steps=steps, batch_size=batch_size, n2v_epochs=n2v_epochs, n2v_steps=n2v_steps, n_images=n_images, size=size)
    started = time.time()
    command = "kvs " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["reproduce"] else None
    if report_only:
        from keras_voidseg.reproduce.jobs import read_result

        rows = [row for row in (read_result(out, cell) for cell in spec.cells()) if row is not None]
        if not rows:
            raise click.ClickException(f"no finished cells of this grid in {out}")
        click.echo(f"report of {len(rows)} finished cells out of {len(spec.cells())}")
    else:
        try:
            rows = run_grid(spec, out, executor=executor, address=address, n_workers=n_workers, log=click.echo)
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
    paths = write_report(rows, spec, out, figures=not no_figures, command=command,
                         wall_seconds=None if report_only else time.time() - started)
    click.echo((out / "table.md").read_text(encoding="utf-8"))
    click.echo("wrote " + ", ".join(str(p) for p in paths))
