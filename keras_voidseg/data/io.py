"""TIFF input/output with validation that names the offending file.

Folder layout (the StarDist / DSB2018 convention)::

    DIR/images/<name>.tif     raw (noisy) images
    DIR/masks/<name>.tif      instance labels, paired with the image of the same file stem

Accepted image axes (decided here, documented in every error message):

* 2D ``(Y, X)`` - the normal case;
* 3D ``(Y, X, C)`` with ``C`` in 1, 3, 4 (grey, RGB, RGBA, channels last, as a TIFF
  ``S`` (samples) axis stores them) - converted to grey: the alpha channel is dropped and
  the colour channels are averaged (fluorescence data saved as RGB has equal channels);
* a leading singleton axis ``(1, Y, X)`` is squeezed.

Everything else - ``(Z, Y, X)`` stacks, ``(T, Y, X)`` time series, channels-first
``(C, Y, X)`` - is rejected: save each plane as its own 2D file.

Label images must be 2D, integer-valued (integer dtype, or float holding whole numbers),
and non-negative; 0 is background.  Ids need not be contiguous.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

TIFF_SUFFIXES = (".tif", ".tiff")

_AXES_HINT = (
    "expected a 2D (Y, X) image, or 3D (Y, X, C) with C in 1, 3, 4 channels last "
    "(converted to grey); stacks (Z, Y, X), time series (T, Y, X) and channels-first "
    "(C, Y, X) are not supported - save each plane as its own 2D TIFF"
)


def _read_tiff(path: str | os.PathLike) -> tuple[np.ndarray, str]:
    """Read the first series of a TIFF file and its axes string (e.g. ``"YX"``, ``"YXS"``).

    Planar RGB (axes ``"SYX"``) is returned channels-last.  Errors name the file.
    """
    import tifffile

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a folder; expected a .tif/.tiff file")
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            array, axes = np.asarray(series.asarray()), str(series.axes)
    except Exception as exc:  # tifffile raises several exception types for bad files
        raise ValueError(
            f"cannot read TIFF file {path}: {exc.__class__.__name__}: {exc}; "
            "is it a valid (uncorrupted) TIFF?"
        ) from None
    if axes == "SYX" and array.ndim == 3 and array.shape[0] in (3, 4):
        array, axes = np.moveaxis(array, 0, -1), "YXS"
    return array, axes


def _to_2d(array: np.ndarray, axes: str, path) -> np.ndarray:
    """Apply the accepted-axes rule above; raise a ValueError naming ``path`` otherwise."""
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 2:
        return array
    if array.ndim == 3 and array.shape[-1] in (1, 3, 4) and array.shape[0] > 4:
        return array
    raise ValueError(
        f"{path}: unsupported image shape {array.shape} (TIFF axes {axes!r}); {_AXES_HINT}"
    )


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a 2D image as float32 ``(Y, X)`` raw intensities (no rescaling).

    RGB(A) ``(Y, X, 3|4)`` becomes grey (mean of the colour channels, alpha dropped).
    Raises FileNotFoundError (missing file) or ValueError (unreadable, unsupported axes,
    non-numeric).
    """
    array = _to_2d(*_read_tiff(path), path)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"{path}: image has non-numeric dtype {array.dtype}")
    array = array.astype(np.float32)
    if array.ndim == 3:
        array = array[..., :3].mean(axis=-1) if array.shape[-1] > 1 else array[..., 0]
    if not np.isfinite(array).all():
        raise ValueError(f"{path}: image contains NaN or infinite values")
    return np.ascontiguousarray(array, dtype=np.float32)


def validate_labels(labels: np.ndarray, name: str = "labels") -> np.ndarray:
    """Check an instance label image and return it as int32 ``(Y, X)``.

    ``name`` (a file name or argument name) appears in every error message.
    """
    labels = np.asarray(labels)
    if labels.ndim == 3 and 1 in (labels.shape[0], labels.shape[-1]):
        labels = labels.reshape(labels.shape[1:] if labels.shape[0] == 1 else labels.shape[:2])
    if labels.ndim != 2:
        raise ValueError(
            f"{name}: label image must be 2D (Y, X), got shape {labels.shape}; "
            "save one instance mask per 2D image"
        )
    if labels.dtype == bool:
        raise ValueError(
            f"{name}: label image is boolean (a semantic mask); instance labels need one "
            "integer id per object (0 = background), e.g. skimage.measure.label(mask)"
        )
    if not np.issubdtype(labels.dtype, np.number) or np.iscomplexobj(labels):
        raise ValueError(f"{name}: label image has non-numeric dtype {labels.dtype}")
    if not np.issubdtype(labels.dtype, np.integer):
        finite = np.isfinite(labels).all()
        if not finite or not np.array_equal(labels, np.round(labels)):
            raise ValueError(
                f"{name}: label image (dtype {labels.dtype}) holds non-integer values; "
                "instance labels must be whole-number ids (0 = background)"
            )
    if labels.size and labels.min() < 0:
        raise ValueError(
            f"{name}: label image has negative values (min {labels.min()}); "
            "ids must be >= 0 with 0 = background"
        )
    if labels.size and labels.max() > np.iinfo(np.int32).max:
        raise ValueError(f"{name}: label id {labels.max()} does not fit in int32")
    return np.ascontiguousarray(labels, dtype=np.int32)


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """Read an instance label image as int32 ``(Y, X)`` (validated by :func:`validate_labels`)."""
    return validate_labels(_read_tiff(path)[0], str(path))


def list_tiffs(folder: str | os.PathLike) -> list[Path]:
    """Sorted ``.tif``/``.tiff`` files in ``folder`` (not recursive, hidden files skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in TIFF_SUFFIXES and not p.name.startswith(".")
    )


def _by_stem(files: list[Path], folder: Path) -> dict[str, Path]:
    stems: dict[str, Path] = {}
    for f in files:
        if f.stem in stems:
            raise ValueError(
                f"{folder}: {stems[f.stem].name} and {f.name} have the same name stem; "
                "images and masks are paired by stem, so keep only one"
            )
        stems[f.stem] = f
    return stems


def load_folder(
    directory: str | os.PathLike, *, require_masks: bool = True
) -> tuple[list[np.ndarray], list[np.ndarray] | None, list[str]]:
    """Load ``DIR/images/*.tif`` and the matching ``DIR/masks/*.tif`` (paired by file stem).

    Args:
        directory: the data-set folder.
        require_masks: if False and ``DIR/masks`` does not exist, only images are loaded
            and ``labels`` is None (e.g. noisy images for self-supervised denoising).

    Returns:
        ``(images, labels, names)``: lists of float32 ``(Y, X)`` images, int32 ``(Y, X)``
        labels (or None), and the image file stems, sorted by name.
    """
    directory = Path(directory)
    layout = f"expected {directory}/images/*.tif and {directory}/masks/*.tif (paired by file name)"
    if not directory.is_dir():
        raise FileNotFoundError(f"no such data-set folder: {directory}; {layout}")
    image_dir, mask_dir = directory / "images", directory / "masks"
    if not image_dir.is_dir():
        raise FileNotFoundError(f"{directory} has no 'images' folder; {layout}")
    image_files = list_tiffs(image_dir)
    if not image_files:
        raise ValueError(f"{image_dir} holds no .tif/.tiff files; {layout}")
    images_by_stem = _by_stem(image_files, image_dir)
    names = sorted(images_by_stem)

    masks_by_stem = None
    if mask_dir.is_dir():
        masks_by_stem = _by_stem(list_tiffs(mask_dir), mask_dir)
    elif require_masks:
        raise FileNotFoundError(f"{directory} has no 'masks' folder; {layout}")

    if masks_by_stem is not None:
        missing = [n for n in names if n not in masks_by_stem]
        if missing:
            shown = ", ".join(images_by_stem[n].name for n in missing[:5])
            more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
            raise FileNotFoundError(
                f"image(s) {shown}{more} in {image_dir} have no mask: expected a file with "
                f"the same name in {mask_dir} (e.g. {mask_dir / images_by_stem[missing[0]].name})"
            )
        extra = sorted(set(masks_by_stem) - set(images_by_stem))
        if extra:
            shown = ", ".join(masks_by_stem[n].name for n in extra[:5])
            raise ValueError(
                f"mask(s) {shown} in {mask_dir} have no image: expected a file with the "
                f"same name in {image_dir}; remove the mask or add the image"
            )

    images, labels = [], [] if masks_by_stem is not None else None
    for name in names:
        image = read_image(images_by_stem[name])
        images.append(image)
        if masks_by_stem is not None:
            mask = read_labels(masks_by_stem[name])
            if mask.shape != image.shape:
                raise ValueError(
                    f"shape mismatch for {name}: image {images_by_stem[name]} has shape "
                    f"{image.shape} but mask {masks_by_stem[name]} has shape {mask.shape}"
                )
            labels.append(mask)
    return images, labels, names


def load_images(path: str | os.PathLike) -> tuple[list[np.ndarray], list[str]]:
    """Images from one TIFF file, a folder of TIFFs, or a data-set folder with ``images/``.

    Returns ``(images, names)`` (float32 ``(Y, X)`` each, file stems).
    """
    path = Path(path)
    if path.is_file():
        return [read_image(path)], [path.stem]
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    folder = path / "images" if (path / "images").is_dir() else path
    files = list_tiffs(folder)
    if not files:
        raise ValueError(f"{folder} holds no .tif/.tiff files")
    return [read_image(f) for f in files], [f.stem for f in files]


def _default_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Create ``path`` atomically: ``write(tmp)`` fills a temp file in the same folder,
    which then replaces ``path`` (``os.replace``); on error the temp file is removed.

    Parent folders are created; the file gets the usual permissions (``0o666 & ~umask``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, _default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_tiff(path: str | os.PathLike, array: np.ndarray, *, compress: bool = True) -> Path:
    """Write ``array`` to ``path`` atomically (see :func:`atomic_write`).

    ``compress`` uses lossless zlib (deflate) compression.
    """
    import tifffile

    path = Path(path)
    if path.suffix.lower() not in TIFF_SUFFIXES:
        raise ValueError(f"{path}: TIFF file names must end in .tif or .tiff")
    array = np.asarray(array)
    compression = "zlib" if compress else None
    return atomic_write(path, lambda tmp: tifffile.imwrite(tmp, array, compression=compression))
