"""Entry point of the ``kvs`` console script.

Sub-commands live in their own modules and are imported only when invoked, so that
``kvs --help`` stays fast (no TensorFlow/PyTorch import).  Exit codes: 0 success,
1 failure (a one-line ``Error: ...`` message, no traceback), 2 bad usage (Click).
"""

from __future__ import annotations

import importlib
import sys

import click

# command name -> ("module:attribute", one-line help shown by `kvs --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("cli.data:data", "Synthetic data and data-set tools"),
    "zoo": ("cli.zoo:zoo", "List, inspect and download pretrained pipelines"),
    "push": ("cli.zoo:push", "Publish a pipeline folder to the Hugging Face Hub"),
    "train": ("cli.train:train", "Train a VoidSeg scheme (U-Net or StarDist) into a pipeline folder"),
    "predict": ("cli.predict:predict", "Segment TIFF images with a pipeline (folder or zoo name)"),
    "denoise": ("cli.predict:denoise", "Denoise TIFF images with a pipeline's Noise2Void network"),
    "evaluate": ("cli.evaluate:evaluate", "Score predicted label images against ground truth (AP, SEG, ...)"),
    "reproduce": ("cli.reproduce:reproduce", "The paper's experiment grid, resumable, local or on Dask"),
    "bench": ("cli.bench:bench", "Benchmarks: project vs reference implementations"),
    "demo": ("cli.demo:demo", "Offline demo: shipped pipelines on a noisy sample image"),
}


class LazyGroup(click.Group):
    """A Click group that imports each sub-command's module on first use."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        target, _ = COMMANDS[name]
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="keras-voidseg", prog_name="kvs")
def cli():
    """keras_voidseg: Noise2Void denoising + U-Net/StarDist segmentation (VoidSeg).

    \b
    Example:
      kvs data synth --out data/synth --images 4 --size 512 --seed 0
    """


def main(argv=None) -> int:
    """Run the CLI; user errors become ``Error: ...`` on stderr with exit code 1."""
    try:
        cli.main(args=argv, prog_name="kvs", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        click.echo(f"Error: {message}", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
