"""The data of one VoidSeg experiment: noisy images, splits, normalisation, patch sets.

:func:`prepare_data` turns a data source into an :class:`ExperimentData`:

1. images and labels: the synthetic BBBC004-like generator (``"synthetic"``) or a TIFF
   folder in the StarDist layout (``DIR/images``, ``DIR/masks``);
2. zero-mean Gaussian noise of std ``noise`` added to the raw intensities (seeded; the same
   images and seed always give the same noisy images);
3. a split by *image* (never by patch): 15 % test, and of the rest 15 % validation
   (validation images steer the learning-rate plateau, the best checkpoint and the
   threshold search; the test images are only ever used for the reported scores);
4. percentile normalisation of every noisy image (1 / 99.8, as N2V and StarDist).

Patch sets are cut from the normalised images when a stage needs them
(:meth:`ExperimentData.patches`), optionally from *denoised* images for the sequential
schemes.  The labelled training subset Pk (paper sizes, counted in patches) is a prefix of
one seeded permutation of the training patches, so P1 ⊂ P2 ⊂ ... (DESIGN §4).

Noise2Void is self-supervised; here it trains on every noisy image of the training and
validation splits (labelled or not) and validates on the validation images.  The test
images are kept out of every training stage, so the reported scores are on unseen data
(the paper also lets N2V see the test images, which can only help N2V).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from keras_voidseg.data.noise import add_gaussian_noise, parse_noise
from keras_voidseg.data.normalize import PercentileNormalizer
from keras_voidseg.data.patches import (
    SUBSET_SIZES,
    extract_patches,
    split_indices,
    subset_indices,
    subset_names,
)

SYNTHETIC = "synthetic"
#: synthetic data set size per preset: (number of images, image side)
SYNTHETIC_SHAPES = {"paper": (100, 950), "cpu": (20, 256), "smoke": (6, 64)}


@dataclass
class ExperimentData:
    """Normalised noisy images with labels, split by image.

    ``images[i]`` is float32 ``(Y, X)`` (normalised noisy image), ``labels[i]`` int32;
    ``clean[i]`` the noise-free raw image when known (synthetic data), for figures and
    denoising scores.  ``splits`` maps "train" / "val" / "test" to image indices.
    """

    name: str
    noise: float
    seed: int
    images: list[np.ndarray]
    labels: list[np.ndarray]
    raw: list[np.ndarray]
    splits: dict[str, np.ndarray]
    subset_dataset: str = "bbbc004"
    clean: list[np.ndarray] | None = None
    names: list[str] = field(default_factory=list)
    normalizer: PercentileNormalizer = field(default_factory=PercentileNormalizer)

    def split_images(self, split: str, images: Sequence[np.ndarray] | None = None) -> list[np.ndarray]:
        """The (normalised) images of ``split``, or the same entries of ``images``."""
        source = self.images if images is None else images
        return [source[i] for i in self.splits[split]]

    def split_labels(self, split: str) -> list[np.ndarray]:
        return [self.labels[i] for i in self.splits[split]]

    def patches(self, split: str, patch_size: int, images: Sequence[np.ndarray] | None = None,
                with_labels: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Non-overlapping patches of ``split`` (from ``images`` if given, e.g. denoised)."""
        labels = self.split_labels(split) if with_labels else None
        return extract_patches(self.split_images(split, images), labels, patch_size)

    def subset(self, name: str, n_patches: int) -> np.ndarray:
        """Indices of training subset ``name`` (P1..P10) among ``n_patches`` training patches."""
        return subset_indices(name, n_patches, self.subset_dataset, seed=self.seed)

    def describe(self) -> dict:
        """Provenance for metadata.json."""
        return {
            "dataset": self.name,
            "noise": self.noise,
            "seed": self.seed,
            "n_images": len(self.images),
            "image_shape": list(self.images[0].shape),
            "split_sizes": {k: int(len(v)) for k, v in self.splits.items()},
            "subset_sizes": self.subset_dataset,
        }


def check_subset(name: str, dataset: str = "bbbc004") -> str:
    """Normalise ``"p3"`` to ``"P3"`` or raise a ValueError listing the valid names."""
    valid = subset_names(SUBSET_SIZES[dataset])
    key = str(name).strip().upper()
    if key not in valid:
        raise ValueError(f"unknown subset {name!r}; choose one of {', '.join(valid)}")
    return key


def _load_source(source: str, seed: int, preset: str, n_images: int | None, size: int | None):
    if source == SYNTHETIC:
        from keras_voidseg.data.synthetic import synthetic_dataset

        default_n, default_size = SYNTHETIC_SHAPES.get(preset, SYNTHETIC_SHAPES["cpu"])
        clean, labels = synthetic_dataset(n_images or default_n, size or default_size, seed=seed)
        return list(clean), list(labels), list(clean), [f"synthetic_{i:03d}" for i in range(len(clean))], "bbbc004"
    from keras_voidseg.data.io import load_folder

    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"no such data folder: {source}; pass 'synthetic' or a folder "
                                "with images/*.tif and masks/*.tif")
    images, labels, names = load_folder(path)
    if n_images:
        images, labels, names = images[:n_images], labels[:n_images], names[:n_images]
    return images, labels, None, names, "dsb"


def prepare_data(
    source: str = SYNTHETIC,
    noise: float | str = 200.0,
    *,
    seed: int = 0,
    preset: str = "cpu",
    n_images: int | None = None,
    size: int | None = None,
    test_fraction: float = 0.15,
    val_fraction: float = 0.15,
    normalizer: PercentileNormalizer | None = None,
) -> ExperimentData:
    """Load/generate, add noise, split and normalise (see the module docstring).

    Args:
        source: ``"synthetic"`` or a data-set folder (``images/``, ``masks/``).
        noise: Gaussian noise std in raw intensity units (``200`` or ``"n200"``; 0 = none).
        seed: seeds the generator, the noise, the splits and the subsets.
        preset: picks the synthetic data-set size (``SYNTHETIC_SHAPES``) unless given.
        n_images, size: override the number of images / synthetic image side.
    """
    sigma = parse_noise(noise)
    raw, labels, clean, names, subset_dataset = _load_source(source, seed, preset, n_images, size)
    if len(raw) < 3:
        raise ValueError(f"{source}: need at least 3 images for train/validation/test splits, "
                         f"got {len(raw)}")
    noisy = add_gaussian_noise(raw, sigma, seed=seed + 1) if sigma > 0 else [np.asarray(r, np.float32) for r in raw]
    rest, test = split_indices(len(noisy), test_fraction, seed=seed)
    train_pos, val_pos = split_indices(len(rest), val_fraction, seed=seed + 1)
    normalizer = normalizer or PercentileNormalizer()
    return ExperimentData(
        name="synthetic-bbbc004" if source == SYNTHETIC else Path(source).name,
        noise=sigma,
        seed=seed,
        images=[normalizer(image) for image in noisy],
        labels=[np.asarray(lab, np.int32) for lab in labels],
        raw=list(noisy),
        splits={"train": rest[train_pos], "val": rest[val_pos], "test": test},
        subset_dataset=subset_dataset,
        clean=clean,
        names=names,
        normalizer=normalizer,
    )


def map_images(fn: Callable[[np.ndarray], np.ndarray], images: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``[fn(image) for image in images]`` (e.g. denoise every image once)."""
    return [np.asarray(fn(image), np.float32) for image in images]
