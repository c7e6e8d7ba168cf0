"""Pretrained pipelines: resolve, download (sha256-checked), publish, catalog.

A *pipeline folder* is what is saved, shipped and uploaded (DESIGN §6)::

    config.json        rebuilds every network; carries "keras_voidseg_pipeline": <format int>
    *.weights.h5       Keras 3 weights (backend neutral)
    thresholds.json    tuned probability / NMS thresholds
    metrics.json       test-split scores ({"ap": ..., "seg": ..., ...})
    metadata.json      versions, date, parameter count, preset, data, seed, training command
    README.md          model card rendered from MODEL_CARD.md (see keras_voidseg.model_card)

:func:`resolve_pretrained` maps a user's string to such a folder, in this order:

1. an existing local folder (it must be a pipeline folder);
2. a catalog name whose entry is shipped -> the folder installed under ``zoo/pipelines``;
3. a catalog name with a ``repo_id`` -> ``huggingface_hub.snapshot_download`` of the
   pinned revision (Hub cache, ``HF_HOME`` / ``HF_HUB_CACHE``, ``HF_HUB_OFFLINE``);
4. ``hf://org/repo[@revision]`` -> ``snapshot_download`` directly.

Whenever the catalog knows the exact files (cases 2, 3 and 4 when the downloaded commit
is a catalogued revision), every file's sha256 is verified.  Files in the Hub cache are
only ever read.  Only the standard library and ``huggingface_hub`` are imported here;
Keras is imported by :func:`load_pretrained` alone (through ``keras_voidseg.pipeline``).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any, Mapping

import zoo
from keras_voidseg.model_card import describe, read_parts, render_model_card, write_model_card, write_text_atomic
from zoo import CatalogEntry

PIPELINE_FORMAT_VERSION = 1
FORMAT_KEY = "keras_voidseg_pipeline"
HF_PREFIX = "hf://"

__all__ = [
    "PIPELINE_FORMAT_VERSION",
    "CatalogEntry",
    "ChecksumError",
    "NotAPipelineError",
    "PretrainedNotAvailableError",
    "catalog_entry_for_folder",
    "catalog_table",
    "check_pipeline_folder",
    "download",
    "format_catalog_table",
    "is_pipeline_folder",
    "list_pretrained",
    "load_pretrained",
    "push_to_hub",
    "render_model_card",
    "resolve_pretrained",
    "sha256_file",
]


class NotAPipelineError(ValueError):
    """A folder lacks a valid ``config.json`` with the pipeline format key."""


class ChecksumError(ValueError):
    """A pipeline file is missing or its sha256 differs from the catalog's."""


class PretrainedNotAvailableError(FileNotFoundError):
    """The pipeline is neither shipped nor in the Hub cache, and the Hub is unreachable/offline."""


# --------------------------------------------------------------------------- folders
def _pipeline_problem(path: Path) -> str | None:
    """Why ``path`` is not a pipeline folder, or None if it is one."""
    if not path.is_dir():
        return f"{path} is not a folder"
    config = path / "config.json"
    if not config.is_file():
        return f"{path} has no config.json (a pipeline folder is written by Pipeline.save_pretrained)"
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return f"{config} is not valid JSON ({exc})"
    if not isinstance(data, dict) or FORMAT_KEY not in data:
        return f'{config} has no "{FORMAT_KEY}" key, so it was not written by keras_voidseg'
    version = data[FORMAT_KEY]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return f'{config}: "{FORMAT_KEY}" must be a positive integer, got {version!r}'
    if version > PIPELINE_FORMAT_VERSION:
        return (
            f"{config} uses pipeline format {version} but this keras_voidseg reads up to "
            f"{PIPELINE_FORMAT_VERSION}; upgrade keras_voidseg (pip install -U keras-voidseg)"
        )
    return None


def is_pipeline_folder(path: str | os.PathLike) -> bool:
    """True iff ``path`` is a folder whose config.json carries a readable pipeline format key."""
    return _pipeline_problem(Path(path)) is None


def check_pipeline_folder(path: str | os.PathLike) -> Path:
    """Return ``path`` as a Path, or raise :class:`NotAPipelineError` saying what is missing."""
    path = Path(path).expanduser()
    problem = _pipeline_problem(path)
    if problem is not None:
        raise NotAPipelineError(f"not a keras_voidseg pipeline folder: {problem}")
    return path


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks (never loads big weights at once)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


#: a training run's checkpoints live in ``<pipeline>/train/``: never shipped or uploaded
TRAINING_DIR = "train"


def pipeline_files(folder: str | os.PathLike) -> list[str]:
    """Relative POSIX paths of every file of a pipeline folder.

    Skips hidden files/folders and the training run's checkpoints (``train/``).
    """
    folder = Path(folder)
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if rel.parts[0] == TRAINING_DIR:
            continue
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            found.append(rel.as_posix())
    return found


def verify_checksums(folder: Path, files: Mapping[str, str], *, fix: str) -> None:
    """Check that every ``files`` entry exists in ``folder`` with the given sha256.

    Raises :class:`ChecksumError` naming the first bad file, expected vs. actual digest,
    and ``fix`` (how to get a good copy back).
    """
    for rel, expected in sorted(files.items()):
        path = folder / rel
        if not path.is_file():
            raise ChecksumError(f"{rel} is missing from {folder}. {fix}")
        got = sha256_file(path)
        if got != expected:
            raise ChecksumError(
                f"sha256 mismatch for {rel} in {folder}: expected {expected}, got {got}. "
                f"The file is corrupted or was modified. {fix}"
            )


# --------------------------------------------------------------------------- catalog
def _catalog(catalog: str | os.PathLike | None) -> tuple[list[CatalogEntry], Path]:
    path = Path(catalog) if catalog is not None else zoo.catalog_path()
    return zoo.load_catalog(path), path


def list_pretrained(catalog: str | os.PathLike | None = None) -> list[str]:
    """Names of every pretrained pipeline in the catalog, sorted."""
    entries, _ = _catalog(catalog)
    return sorted(entry.name for entry in entries)


def catalog_table(catalog: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """One row per catalog entry: name, method, scheme, data, noise, AP, SEG, size, source."""
    entries, path = _catalog(catalog)
    rows = []
    for entry in sorted(entries, key=lambda e: e.name):
        source = "shipped" if entry.shipped else ""
        if entry.repo_id:
            source = f"{source}+hf:{entry.repo_id}" if source else f"hf:{entry.repo_id}"
        rows.append(
            {
                "name": entry.name,
                "method": entry.method,
                "scheme": entry.scheme,
                "data": entry.dataset,
                "noise": entry.noise,
                "ap": entry.metrics.get("ap"),
                "seg": entry.metrics.get("seg"),
                "size_bytes": entry.size_bytes,
                "source": source,
                "description": entry.description,
            }
        )
    return rows


def _human_size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def format_catalog_table(rows: list[dict[str, Any]]) -> str:
    """Plain-text table of :func:`catalog_table` rows (for ``kvs zoo list`` and notebooks)."""
    header = ["name", "method", "scheme", "data", "noise", "AP", "SEG", "size", "source"]

    def cell(row: dict, key: str) -> str:
        if key in ("AP", "SEG"):
            value = row[key.lower()]
            return "-" if value is None else f"{value:.3f}"
        if key == "size":
            return _human_size(row["size_bytes"])
        return str(row[key] or "-")

    table = [header] + [[cell(row, key) for key in header] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip() for line in table]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _lookup(name: str, entries: list[CatalogEntry]) -> CatalogEntry | None:
    return next((entry for entry in entries if entry.name == name), None)


def _unknown_name_error(name: str, entries: list[CatalogEntry], catalog_file: Path) -> ValueError:
    names = sorted(entry.name for entry in entries)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    known = f" Known names: {', '.join(names)}." if names and not close and len(names) <= 12 else ""
    return ValueError(
        f"{name!r} is neither a folder nor a pretrained pipeline name in {catalog_file}.{hint}{known} "
        "Run `kvs zoo list` for all names, or pass a pipeline folder or hf://org/repo[@revision]."
    )


# --------------------------------------------------------------------------- the Hub
def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "on", "yes", "true"}


def _offline() -> bool:
    """HF_HUB_OFFLINE, read now (huggingface_hub itself reads it once at import)."""
    from huggingface_hub import constants

    return constants.is_offline_mode() or _truthy(os.environ.get("HF_HUB_OFFLINE"))


def _cache_dir(cache_dir: str | os.PathLike | None) -> str:
    """Hub cache folder: argument, else HF_HUB_CACHE, else HF_HOME/hub, read now."""
    from huggingface_hub import constants

    if cache_dir is not None:
        return str(Path(cache_dir).expanduser())
    env = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if env:
        return str(Path(env).expanduser())
    if os.environ.get("HF_HOME"):
        return str(Path(os.environ["HF_HOME"]).expanduser() / "hub")
    return constants.HF_HUB_CACHE


def _endpoint(endpoint: str | None) -> str | None:
    return endpoint or os.environ.get("HF_ENDPOINT") or None


def parse_hf_uri(uri: str) -> tuple[str, str | None]:
    """``"hf://org/repo@rev"`` -> ``("org/repo", "rev")``; the revision is optional."""
    body = uri[len(HF_PREFIX) :] if uri.startswith(HF_PREFIX) else uri
    repo_id, sep, revision = body.partition("@")
    repo_id = repo_id.strip("/")
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*", repo_id) or (sep and not revision):
        raise ValueError(f"{uri!r} is not a Hub reference; expected hf://org/repo or hf://org/repo@revision")
    return repo_id, revision or None


def _snapshot(
    repo_id: str,
    revision: str | None,
    *,
    label: str,
    allow_patterns: list[str] | None,
    cache_dir: str | os.PathLike | None,
    endpoint: str | None,
    token: str | bool | None,
    force_download: bool,
) -> Path:
    """``snapshot_download`` with keras_voidseg's error messages; returns the snapshot folder."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        IncompleteSnapshotError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline = _offline()
    where = f"{repo_id}@{revision or 'main'}"
    try:
        folder = snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=_cache_dir(cache_dir),
            endpoint=_endpoint(endpoint),
            token=token,
            allow_patterns=allow_patterns,
            local_files_only=offline,
            force_download=force_download,
            library_name="keras_voidseg",
        )
    except (LocalEntryNotFoundError, IncompleteSnapshotError) as exc:
        if offline:
            why, retry = "HF_HUB_OFFLINE is set", "Unset HF_HUB_OFFLINE and retry"
        else:
            cause = exc.__cause__ or exc
            why = f"the Hub could not be reached ({type(cause).__name__}: {cause})"
            retry = "Check the network (and HF_ENDPOINT) and retry"
        raise PretrainedNotAvailableError(
            f"cannot load {label} ({where}): {why} and it is not in the Hub cache {_cache_dir(cache_dir)}. "
            f"{retry}, or run `kvs zoo download {label}` on a connected machine and copy its Hugging Face "
            "cache (HF_HOME) here."
        ) from None
    except RevisionNotFoundError:
        raise ValueError(f"revision {revision!r} does not exist in Hub repo {repo_id}") from None
    except RepositoryNotFoundError:
        raise ValueError(
            f"Hub repo {repo_id} not found (if it is private, log in with `hf auth login` or pass a token)"
        ) from None
    except HfHubHTTPError as exc:
        raise ValueError(f"downloading {where} from the Hub failed: {exc}") from None
    return Path(folder)


def _fix_hint(folder: Path, label: str) -> str:
    """How to get a good copy back: for a Hub snapshot, delete its cache folder and re-download."""
    if folder.parent.name == "snapshots":
        return (
            f"Delete the cache folder {folder.parent.parent} and download again "
            f"(`kvs zoo download {label}` or `kvs zoo download {label} --force`)."
        )
    return "Reinstall keras_voidseg (pip install --force-reinstall keras-voidseg) to restore it."


def _verify_download(folder: Path, repo_id: str, entry: CatalogEntry | None, entries: list[CatalogEntry]) -> None:
    """Checksum a snapshot against the catalog entry of its commit (the snapshot folder's name).

    ``entry`` is the entry the user asked for by name (None for ``hf://`` references, which
    are then matched to any catalog entry with the same repo and commit).
    """
    commit = folder.name
    if entry is not None:
        match = entry if entry.revision == commit else None
    else:
        match = next((e for e in entries if e.repo_id == repo_id and e.revision == commit), None)
    if match is not None:
        verify_checksums(folder, match.files, fix=_fix_hint(folder, match.name))
    elif entry is not None:
        warnings.warn(
            f"{entry.name}: downloaded commit {commit}, but the catalog's sha256 sums are for revision "
            f"{entry.revision}; only the folder layout was checked.",
            stacklevel=3,
        )
    check_pipeline_folder(folder)


def resolve_pretrained(
    name_or_path: str | os.PathLike,
    revision: str | None = None,
    *,
    catalog: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    endpoint: str | None = None,
    token: str | bool | None = None,
    force_download: bool = False,
    prefer_hub: bool = False,
) -> Path:
    """Return the local folder of a pipeline given a folder, a zoo name, or ``hf://org/repo[@rev]``.

    ``revision`` overrides the catalog's pinned commit (then the catalog's sha256 sums do
    not apply and only the folder layout is checked).  ``prefer_hub`` skips the shipped
    copy of an entry that is also published (used by ``kvs zoo download``).  ``catalog``,
    ``cache_dir`` and ``endpoint`` default to ``$KVS_CATALOG`` / the installed catalog,
    the Hugging Face cache and ``$HF_ENDPOINT``.  Raises ValueError (unknown name, not a
    pipeline, checksum mismatch) or :class:`PretrainedNotAvailableError` (offline, not cached).
    """
    text = os.fspath(name_or_path)
    hub = {"cache_dir": cache_dir, "endpoint": endpoint, "token": token, "force_download": force_download}

    # 1. a local folder
    local = Path(text).expanduser()
    if not text.startswith(HF_PREFIX) and local.exists():
        return check_pipeline_folder(local)

    entries, catalog_file = _catalog(catalog)

    # 4. hf://org/repo[@revision]
    if text.startswith(HF_PREFIX):
        repo_id, uri_revision = parse_hf_uri(text)
        if revision is not None and uri_revision is not None and revision != uri_revision:
            raise ValueError(f"{text!r} pins revision {uri_revision!r} but revision={revision!r} was also given")
        folder = _snapshot(repo_id, uri_revision or revision, label=text, allow_patterns=None, **hub)
        _verify_download(folder, repo_id, None, entries)
        return folder

    entry = _lookup(text, entries)
    if entry is None:
        if not zoo.is_valid_name(text):  # looks like a path, not a zoo name
            raise FileNotFoundError(f"no pipeline folder at {local} (and {text!r} is not a zoo name)")
        raise _unknown_name_error(text, entries, catalog_file)

    # 2. shipped with the package
    if entry.shipped and not (prefer_hub and entry.repo_id) and revision is None:
        folder = zoo.shipped_path(entry.name, catalog_file)
        if folder.is_dir():
            verify_checksums(folder, entry.files, fix=_fix_hint(folder, entry.name))
            return check_pipeline_folder(folder)
        if entry.repo_id is None:
            raise FileNotFoundError(
                f"{entry.name} is listed as shipped but {folder} is missing; reinstall keras_voidseg"
            )

    if entry.repo_id is None:
        raise ValueError(f"{entry.name} is only shipped, not published on the Hub, so revision={revision!r} cannot apply")

    # 3. published on the Hub
    wanted = revision or entry.revision
    patterns = sorted(entry.files) if wanted == entry.revision else None
    folder = _snapshot(entry.repo_id, wanted, label=entry.name, allow_patterns=patterns, **hub)
    _verify_download(folder, entry.repo_id, entry, entries)
    return folder


def download(name: str, revision: str | None = None, **kwargs: Any) -> Path:
    """Fetch a pipeline into the Hub cache (``kvs zoo download``); returns its folder.

    Published entries always go through the Hub cache (so the cache can be copied to an
    offline machine); shipped-only entries return their installed folder.
    """
    return resolve_pretrained(name, revision, prefer_hub=True, **kwargs)


def load_pretrained(name_or_path: str | os.PathLike, revision: str | None = None, **kwargs: Any):
    """Load a :class:`keras_voidseg.pipeline.Pipeline` from a folder, zoo name or ``hf://`` reference.

    Example::

        import keras_voidseg
        pipe = keras_voidseg.load_pretrained("synthetic-bbbc004-n200/stardist-sequential")
        labels, details = pipe.predict_instances(image)
    """
    folder = resolve_pretrained(name_or_path, revision, **kwargs)
    from keras_voidseg.pipeline import Pipeline  # imports Keras: only here

    return Pipeline.from_folder(folder)


# --------------------------------------------------------------------------- publishing


def catalog_entry_for_folder(
    folder: str | os.PathLike,
    name: str | None = None,
    *,
    repo_id: str | None = None,
    revision: str | None = None,
    shipped: bool = False,
    description: str | None = None,
) -> dict[str, Any]:
    """The catalog entry (a JSON-ready dict) describing ``folder``: sha256 of every file, metrics, ...

    ``name`` defaults to ``<dataset>-<noise>/<method>-<scheme>`` from the folder's metadata.
    """
    folder = check_pipeline_folder(folder)
    info = describe(read_parts(folder))
    files = {rel: sha256_file(folder / rel) for rel in pipeline_files(folder)}
    entry = CatalogEntry(
        name=name or info["default_name"],
        files=files,
        repo_id=repo_id,
        revision=revision,
        shipped=shipped,
        method=info["method"],
        scheme=info["scheme"],
        dataset=info["dataset"],
        noise=info["noise"],
        preset=info["preset"],
        metrics={k: v for k, v in info["metrics"].items() if k in ("ap", "seg")},
        size_bytes=sum((folder / rel).stat().st_size for rel in files),
        description=description if description is not None else info["summary"],
    )
    if shipped or repo_id:
        entry.validate(where=str(folder))
    return entry.to_dict()


def push_to_hub(
    folder: str | os.PathLike,
    repo_id: str,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    tag: str | None = None,
    token: str | bool | None = None,
    *,
    name: str | None = None,
    endpoint: str | None = None,
) -> dict[str, Any]:
    """Upload a pipeline folder to the Hub and return its catalog entry (to paste into zoo/catalog.json).

    Creates the repo if needed (``private``), the branch ``revision`` if given, writes a
    model card README.md if the folder has none, uploads exactly the pipeline's files in
    one commit, optionally tags that commit, and pins the entry to the commit sha.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    folder = check_pipeline_folder(folder)
    parse_hf_uri(repo_id)  # validates "org/name"
    if not (folder / "README.md").is_file():
        write_model_card(folder, name=name, repo_id=repo_id)
    files = pipeline_files(folder)
    api = HfApi(endpoint=_endpoint(endpoint), token=token, library_name="keras_voidseg")
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision is not None:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            revision=revision,
            allow_patterns=files,
            commit_message=commit_message or f"Upload keras_voidseg pipeline {name or folder.name}",
        )
        if tag is not None:
            api.create_tag(repo_id, tag=tag, revision=commit.oid, exist_ok=True)
    except HfHubHTTPError as exc:
        raise ValueError(f"publishing {folder} to {repo_id} failed: {exc}") from None
    return catalog_entry_for_folder(folder, name, repo_id=repo_id, revision=commit.oid)


def add_to_catalog(
    folder: str | os.PathLike,
    name: str | None = None,
    *,
    ship: bool = False,
    repo_id: str | None = None,
    revision: str | None = None,
    description: str | None = None,
    catalog: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Add (or replace) ``folder``'s entry in the catalog; with ``ship`` copy it under zoo/pipelines.

    This is the maintainer's tool for the zoo (``kvs zoo add``); both writes are atomic.
    """
    import shutil
    import tempfile

    if not ship and repo_id is None:
        raise ValueError("add_to_catalog: pass ship=True (kvs zoo add --ship) and/or a repo_id with its revision")
    catalog_file = Path(catalog) if catalog is not None else zoo.catalog_path()
    entry = catalog_entry_for_folder(
        folder, name, repo_id=repo_id, revision=revision, shipped=ship, description=description
    )
    if ship:
        target = zoo.shipped_path(entry["name"], catalog_file)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=target.parent))
        for rel in entry["files"]:
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(folder) / rel, staging / rel)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
        verify_checksums(target, entry["files"], fix="Copy the pipeline again with `kvs zoo add --ship`.")
    data = json.loads(catalog_file.read_text(encoding="utf-8")) if catalog_file.is_file() else {"format": 1}
    pipelines = [item for item in data.get("pipelines", []) if item.get("name") != entry["name"]]
    data["pipelines"] = sorted([*pipelines, entry], key=lambda item: item["name"])
    write_text_atomic(catalog_file, json.dumps(data, indent=2, sort_keys=False) + "\n")
    zoo.load_catalog(catalog_file)  # the result must be a valid catalog
    return entry
