"""``kvs zoo`` (list / info / download / add pretrained pipelines) and ``kvs push``.

Only the standard library, Click and huggingface_hub are imported: no Keras.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

_SETTINGS = {"help_option_names": ["-h", "--help"]}


@click.group("zoo", context_settings=_SETTINGS)
def zoo():
    """List, inspect and download pretrained pipelines.

    Names come from the zoo catalog (set KVS_CATALOG to use another one).  Downloads go
    to the Hugging Face cache (HF_HOME); with HF_HUB_OFFLINE=1 only cached or shipped
    pipelines load.

    \b
    Examples:
      kvs zoo list
      kvs zoo info synthetic-bbbc004-n200/stardist-sequential
      kvs zoo download synthetic-bbbc004-n200/stardist-sequential
    """


@zoo.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the catalog rows as JSON.")
def list_(as_json: bool):
    """Table of pretrained pipelines: name, method, scheme, data, noise, AP, SEG, size.

    \b
    Example:
      kvs zoo list
    """
    from keras_voidseg.hub import catalog_table, format_catalog_table

    rows = catalog_table()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    elif not rows:
        click.echo("The zoo catalog is empty: no pretrained pipelines are published yet.")
    else:
        click.echo(format_catalog_table(rows))


@zoo.command("info")
@click.argument("name")
@click.option("--revision", default=None, help="Branch, tag or commit on the Hub.")
def info(name: str, revision: str | None):
    """Print the model card of NAME (a zoo name, a folder, or hf://org/repo[@revision]).

    \b
    Example:
      kvs zoo info synthetic-bbbc004-n200/stardist-sequential
    """
    from keras_voidseg.hub import resolve_pretrained
    from keras_voidseg.model_card import render_model_card

    folder = resolve_pretrained(name, revision)
    card = folder / "README.md"
    click.echo(card.read_text(encoding="utf-8") if card.is_file() else render_model_card(folder, name=name))
    click.echo(f"\nFolder: {folder}")


@zoo.command("download")
@click.argument("name")
@click.option("--revision", default=None, help="Branch, tag or commit (default: the catalog's pinned commit).")
@click.option("--force", is_flag=True, help="Download again even if cached (repairs a corrupted cache).")
def download(name: str, revision: str | None, force: bool):
    """Download NAME into the Hugging Face cache and check its sha256 sums.

    Copy the cache folder (HF_HOME, default ~/.cache/huggingface) to an offline machine
    to use the pipeline there with HF_HUB_OFFLINE=1.

    \b
    Examples:
      kvs zoo download synthetic-bbbc004-n200/stardist-sequential
      kvs zoo download hf://org/my-pipeline@v1
    """
    from keras_voidseg.hub import download as fetch

    folder = fetch(name, revision, force_download=force)
    click.echo(f"{name}: {folder}")


@zoo.command("add")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("name", required=False)
@click.option("--ship", is_flag=True, help="Copy the folder into zoo/pipelines/NAME (installed with the package).")
@click.option("--repo-id", default=None, help="Hub repo the pipeline is published in (org/name).")
@click.option("--revision", default=None, help="40-hex commit of the published upload (from `kvs push`).")
@click.option("--description", default=None, help="One-line description [default: from metadata].")
@click.option("--float16", "half", is_flag=True,
              help="Ship float16 weight files (half the size) if predictions stay the same on a check image.")
def add(folder: Path, name: str | None, ship: bool, repo_id: str | None, revision: str | None,
        description: str | None, half: bool):
    """Add (or replace) a pipeline FOLDER in the zoo catalog under NAME (maintainers).

    NAME defaults to <dataset>-<noise>/<method>-<scheme> read from the folder.

    \b
    Examples:
      kvs zoo add runs/bbbc004-n200-stardist-seq synthetic-bbbc004-n200/stardist-sequential --ship --float16
      kvs zoo add runs/x synthetic-bbbc004-n200/unet-baseline --repo-id org/x --revision 0123...cdef
    """
    import shutil
    import tempfile

    from keras_voidseg.hub import add_to_catalog

    if half and not ship:
        raise click.UsageError("--float16 changes the shipped copy; use it with --ship")
    staging = Path(tempfile.mkdtemp(prefix="kvs-float16-"))
    try:
        if half:
            from keras_voidseg.compact import compact_pipeline

            try:
                report = compact_pipeline(folder, staging / "pipeline")
            except ValueError as exc:  # e.g. the segmenter's labels move: keep it float32
                if not (folder / "denoiser.weights.h5").is_file() or not (folder / "segmenter.weights.h5").is_file():
                    raise
                click.echo(f"{exc}; trying float16 for the denoiser only")
                report = compact_pipeline(folder, staging / "pipeline", only="denoiser")
            click.echo(f"float16 {', '.join(report['files'])}: {report['arrays']} arrays, weights {report['bytes_before']} -> "
                       f"{report['bytes_after']} bytes, same labels on the check image"
                       + (f", denoised image within {report['max_denoise_diff']:.2%} of its range"
                          if report["max_denoise_diff"] is not None else ""))
            folder = staging / "pipeline"
        entry = add_to_catalog(folder, name, ship=ship, repo_id=repo_id, revision=revision,
                               description=description)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    click.echo(json.dumps(entry, indent=2))


@click.command("push", context_settings=_SETTINGS)
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("repo_id")
@click.option("--name", default=None, help="Zoo name for the catalog entry [default: from metadata].")
@click.option("--private", is_flag=True, help="Create the repo as private.")
@click.option("--revision", default=None, help="Branch to commit to (created if missing) [default: main].")
@click.option("--tag", default=None, help="Tag the upload commit, e.g. v1.")
@click.option("--message", default=None, help="Commit message.")
@click.option("--token", default=None, envvar="HF_TOKEN", show_envvar=True,
              help="Hugging Face write token [default: the logged-in token].")
def push(folder: Path, repo_id: str, name: str | None, private: bool, revision: str | None,
         tag: str | None, message: str | None, token: str | None):
    """Publish a pipeline FOLDER to the Hugging Face Hub repo REPO_ID.

    Prints the catalog entry (commit sha, sha256 of every file, metrics) to add to
    zoo/catalog.json (or run `kvs zoo add FOLDER NAME --repo-id ... --revision ...`).

    \b
    Example:
      kvs push runs/bbbc004-stardist-seq my-org/voidseg-bbbc004-n200-stardist-sequential --tag v1
    """
    from keras_voidseg.hub import push_to_hub

    entry = push_to_hub(folder, repo_id, private=private, revision=revision, commit_message=message,
                        tag=tag, token=token, name=name)
    click.echo(json.dumps(entry, indent=2))
