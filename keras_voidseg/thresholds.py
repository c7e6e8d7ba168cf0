"""``optimize_thresholds``: post-processing thresholds that maximise AP@0.5 on validation data.

The network runs once per validation image; only the cheap numba post-processing is
repeated over the grid:

* U-Net: the foreground-probability threshold, 0.10 ... 0.95 in steps of 0.05 (DenoiSeg
  searches the same range);
* StarDist: ``nms_thresh`` in (0.3, 0.4, 0.5) x ``prob_thresh`` over a grid of 0.05 ... 0.95
  (StarDist searches the same ranges with an optimiser; a grid is exhaustive and cheap here).

Ties (equal AP) keep the first grid point in the order listed, so the search is
deterministic.  The paper chooses thresholds that maximise AP; we do it on the validation
split so the reported test scores stay unbiased.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

FG_GRID = tuple(np.round(np.arange(0.10, 0.951, 0.05), 2).tolist())
PROB_GRID = tuple(np.round(np.arange(0.05, 0.951, 0.05), 2).tolist())
NMS_GRID = (0.3, 0.4, 0.5)


def _grid(method: str) -> list[dict]:
    if method == "stardist":
        return [{"prob_thresh": p, "nms_thresh": n} for n in NMS_GRID for p in PROB_GRID]
    return [{"fg_thresh": t} for t in FG_GRID]


def optimize_thresholds(pipeline, images: Sequence[np.ndarray], gt_labels: Sequence[np.ndarray], *,
                        iou_thresh: float = 0.5, n_tiles=None, update: bool = True) -> dict:
    """Grid-search the pipeline's post-processing thresholds for the best dataset AP.

    Args:
        pipeline: a segmentation :class:`keras_voidseg.pipeline.Pipeline`.
        images, gt_labels: validation images (raw intensities) and their labels.
        update: store the best thresholds in ``pipeline.thresholds``.

    Returns:
        ``{"thresholds": {...}, "ap": best AP, "grid": [(thresholds, ap), ...]}``.
    """
    from keras_voidseg.metrics import matching_dataset

    if len(images) == 0 or len(images) != len(gt_labels):
        raise ValueError(f"optimize_thresholds needs matching, non-empty image and label lists; "
                         f"got {len(images)} images and {len(gt_labels)} label images")
    probabilities = [pipeline.predict_probabilities(image, n_tiles) for image in images]
    results = []
    for candidate in _grid(pipeline.config.method):
        predictions = [pipeline.instances_from_probabilities(p, **candidate)[0] for p in probabilities]
        ap = float(matching_dataset(list(gt_labels), predictions, thresh=iou_thresh).ap)
        results.append((candidate, ap))
    best, best_ap = max(results, key=lambda item: item[1])  # max keeps the first of equal APs
    if update:
        pipeline.thresholds.update(best)
    return {"thresholds": dict(best), "ap": best_ap, "grid": results}
