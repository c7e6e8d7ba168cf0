"""Smaller pipeline folders for the shipped zoo: float16 weight storage, checked.

Keras restores float16 arrays from a ``.weights.h5`` file into float32 variables, so a
folder whose weight files hold float16 copies loads and runs unchanged (the networks still
compute in float32), at half the size on disk.  Rounding the weights to float16 can move
outputs slightly, so :func:`compact_pipeline` only accepts the result when the compact
pipeline predicts the *same* label image as the original on a noisy synthetic check image
(and, for a denoiser, the same denoised image up to ``denoise_tolerance`` times the
denoised image's intensity range); otherwise it
raises and the caller keeps float32 (the issue's rule: float16 only if predictions stay
the same).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

WEIGHT_SUFFIX = ".weights.h5"


def weights_to_float16(path: str | os.PathLike) -> int:
    """Rewrite every float32 array of the ``.weights.h5`` file ``path`` as float16 (atomically).

    The file is rebuilt (groups, attributes and arrays copied into a new file), because
    HDF5 does not give back the space of deleted datasets.  Returns the number of arrays
    converted.
    """
    import h5py

    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    converted = 0

    def copy(source, target) -> None:
        nonlocal converted
        target.attrs.update(dict(source.attrs))
        for key, item in source.items():
            if isinstance(item, h5py.Group):
                copy(item, target.create_group(key))
                continue
            data = item[()]
            if item.dtype == np.float32:
                data, converted = data.astype(np.float16), converted + 1
            target.create_dataset(key, data=data)
            target[key].attrs.update(dict(item.attrs))

    try:
        with h5py.File(path, "r") as source, h5py.File(tmp, "w") as target:
            copy(source, target)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return converted


def _check_image(noise: float, seed: int = 2024, size: int = 256):
    from keras_voidseg.data.noise import add_gaussian_noise
    from keras_voidseg.data.synthetic import synthesize

    clean, _ = synthesize(size, seed=(seed, 7))
    return add_gaussian_noise(clean, noise, seed=seed)


def compact_pipeline(source: str | os.PathLike, target: str | os.PathLike, *,
                     denoise_tolerance: float = 1e-2, only: str | None = None) -> dict:
    """Copy pipeline folder ``source`` to ``target`` with float16 weights, if predictions agree.

    ``only="denoiser"`` (or ``"segmenter"``) converts just that network's weight file.

    Returns ``{"arrays": n, "bytes_before": .., "bytes_after": .., "max_denoise_diff": ..}``.
    Raises ValueError (and removes ``target``) if the labels (or the denoised image by more
    than ``denoise_tolerance`` of its intensity range) differ on the check image.
    """
    from keras_voidseg.hub import check_pipeline_folder, pipeline_files
    from keras_voidseg.pipeline import Pipeline

    source, target = check_pipeline_folder(source), Path(target)
    if target.exists():
        raise FileExistsError(f"{target} exists; choose a new folder for the compact copy")
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("train", ".*"))
    weights = [target / rel for rel in pipeline_files(target)
               if rel.endswith(WEIGHT_SUFFIX) and (only is None or rel.startswith(only))]
    if not weights:
        shutil.rmtree(target)
        raise ValueError(f"{source}: no {only or ''} weight file to store as float16")
    report = {"files": [p.name for p in weights], "arrays": sum(weights_to_float16(p) for p in weights),
              "bytes_before": sum((source / p.name).stat().st_size for p in weights),
              "bytes_after": sum(p.stat().st_size for p in weights), "max_denoise_diff": None}
    original, compact = Pipeline.from_folder(source), Pipeline.from_folder(target)
    image = _check_image(float(original.metadata.get("data", {}).get("noise", 200.0)))
    try:
        if original.denoiser is not None:
            reference = original.denoise(image)
            span = max(float(reference.max() - reference.min()), 1e-12)
            diff = float(np.abs(reference - compact.denoise(image)).max()) / span
            report["max_denoise_diff"] = diff
            if diff > denoise_tolerance:
                raise ValueError(f"{source}: float16 weights move the denoised image by {diff:.2%} of "
                                 f"its range (> {denoise_tolerance:.0%}); ship it in float32")
        if original.task != "denoising":
            before, after = original.predict_instances(image)[0], compact.predict_instances(image)[0]
            if not np.array_equal(before, after):
                changed = int(np.count_nonzero(before != after))
                raise ValueError(f"{source}: float16 weights change {changed} label pixels on the check "
                                 "image; ship it in float32")
    except ValueError:
        shutil.rmtree(target)
        raise
    return report
