"""Instance-segmentation scores: StarDist-style :func:`matching` (AP, F1, PQ, ...) and the
Cell Tracking Challenge :func:`seg_score`.  Numba, no Keras.

* :func:`matching` / :func:`matching_dataset`: as ``stardist.matching.matching`` /
  ``matching_dataset`` (same fields; ``ap`` = ``accuracy`` = TP / (TP + FP + FN), the
  VoidSeg paper's AP); see :mod:`keras_voidseg.metrics._matching`.
* :func:`seg_score` / :func:`seg_score_dataset`: CTC SEG as py-ctcmetrics computes it;
  see :mod:`keras_voidseg.metrics._seg`.
* :func:`label_overlaps`: the sparse overlap table both are built on (object sizes and the
  intersections of every overlapping pair, from one numba pass over the pixels).

Label images: 2D or 3D arrays of any integer dtype, 0 = background, ids arbitrary
(non-contiguous, huge); floats, booleans and negative ids raise a ValueError naming the
argument (``y_true`` / ``y_pred``).
"""

from keras_voidseg.metrics._labels import check_labels
from keras_voidseg.metrics._matching import Matching, matching, matching_dataset
from keras_voidseg.metrics._overlap import Overlaps, label_overlaps
from keras_voidseg.metrics._seg import seg_per_object, seg_score, seg_score_dataset

__all__ = ["Matching", "Overlaps", "check_labels", "label_overlaps", "matching", "matching_dataset",
           "seg_per_object", "seg_score", "seg_score_dataset"]
