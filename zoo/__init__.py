"""The model-zoo catalog: the single registry of pretrained keras_voidseg pipelines.

``catalog.json`` (next to this file) lists every published or shipped pipeline exactly
once.  A *shipped* pipeline is a folder ``pipelines/<name>/`` next to the catalog file,
installed with the package, so it loads with no network.  A *published* one has a
Hugging Face ``repo_id`` and a pinned 40-hex ``revision``.  Every entry records the
sha256 of each of its files, checked on every load.

Set ``KVS_CATALOG=/path/to/catalog.json`` to use another catalog (tests, private zoos);
shipped folders are then looked up next to that file.  Importing this module is cheap
(standard library only).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

CATALOG_ENV = "KVS_CATALOG"
CATALOG_FORMAT = 1

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class CatalogEntry:
    """One pretrained pipeline.

    ``files`` maps each file's path relative to the pipeline folder (POSIX separators)
    to its sha256 hex digest.  ``metrics`` holds at least ``ap`` (AP@0.5) and ``seg``
    measured on the held-out test split; ``size_bytes`` is the total size of ``files``.
    """

    name: str
    files: dict[str, str]
    repo_id: str | None = None
    revision: str | None = None
    shipped: bool = False
    method: str = ""
    scheme: str = ""
    dataset: str = ""
    noise: str = ""
    preset: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    size_bytes: int = 0
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "catalog") -> CatalogEntry:
        """Build and validate an entry; errors name ``where`` and the offending field."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; expected a subset of {sorted(known)}")
        for key in ("name", "files"):
            if key not in data:
                raise ValueError(f"{where}: missing required key {key!r}")
        entry = cls(**dict(data))
        entry.validate(where)
        return entry

    def validate(self, where: str = "catalog") -> None:
        """Raise ValueError (naming ``where``, the field and the fix) if the entry is malformed."""
        at = f"{where}: entry {self.name!r}"
        if not is_valid_name(self.name):
            raise ValueError(
                f"{at}: name must be lower-case words joined by '/', e.g. '<dataset>-<noise>/<method>-<scheme>'"
            )
        if self.repo_id is not None and not _REPO_ID.match(self.repo_id):
            raise ValueError(f"{at}: repo_id {self.repo_id!r} is not of the form 'org/name'")
        if self.revision is not None and not _COMMIT.match(str(self.revision)):
            raise ValueError(
                f"{at}: revision {self.revision!r} must be a full 40-hex commit sha (or null); "
                "copy it from the output of `kvs push`"
            )
        if not self.shipped and self.repo_id is None:
            raise ValueError(f"{at}: neither shipped nor published; set 'shipped': true or a 'repo_id'")
        if not isinstance(self.files, dict) or not self.files:
            raise ValueError(f"{at}: 'files' must map every file of the pipeline to its sha256")
        for rel, digest in self.files.items():
            parts = PurePosixPath(rel).parts
            if rel.startswith("/") or ".." in parts or "\\" in rel or not parts:
                raise ValueError(f"{at}: file path {rel!r} must be relative, POSIX style, without '..'")
            if not isinstance(digest, str) or not _SHA256.match(digest):
                raise ValueError(f"{at}: sha256 of {rel!r} must be 64 lower-case hex digits, got {digest!r}")


def is_valid_name(name: str) -> bool:
    """True if ``name`` is a well-formed zoo name (lower-case words joined by '/')."""
    return isinstance(name, str) and bool(_NAME.match(name))


def catalog_path() -> Path:
    """Path of the active catalog: ``$KVS_CATALOG`` if set, else the installed zoo/catalog.json."""
    override = os.environ.get(CATALOG_ENV)
    if override:
        return Path(override).expanduser()
    return _package_dir() / "catalog.json"


def load_catalog(path: str | os.PathLike | None = None) -> list[CatalogEntry]:
    """Read and validate a catalog (default: :func:`catalog_path`); names must be unique."""
    path = Path(path) if path is not None else catalog_path()
    if not path.is_file():
        raise FileNotFoundError(f"zoo catalog {path} does not exist (check ${CATALOG_ENV})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"zoo catalog {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("pipelines"), list):
        raise ValueError(f'zoo catalog {path} must be an object {{"format": 1, "pipelines": [...]}}')
    if data.get("format", CATALOG_FORMAT) > CATALOG_FORMAT:
        raise ValueError(f"zoo catalog {path} has format {data['format']}; upgrade keras_voidseg to read it")
    entries = [CatalogEntry.from_dict(item, where=str(path)) for item in data["pipelines"]]
    seen: set[str] = set()
    for entry in entries:
        if entry.name in seen:
            raise ValueError(f"zoo catalog {path}: name {entry.name!r} is listed twice; keep one entry")
        seen.add(entry.name)
    return entries


def shipped_path(name: str, catalog: str | os.PathLike | None = None) -> Path:
    """Folder of the shipped pipeline ``name``: ``pipelines/<name>/`` next to the catalog file."""
    base = Path(catalog).parent if catalog is not None else catalog_path().parent
    return base.joinpath("pipelines", *PurePosixPath(name).parts)


def _package_dir() -> Path:
    """This package's folder on disk (works for editable and regular installs)."""
    root = resources.files(__name__)
    if not isinstance(root, Path):  # e.g. a zip import: the zoo needs real files
        raise RuntimeError(f"the keras_voidseg zoo must be installed as files on disk, found {root!r}")
    return root


__all__ = ["CATALOG_ENV", "CatalogEntry", "catalog_path", "is_valid_name", "load_catalog", "shipped_path"]
