"""StarDist geometry in numba: targets, polygon NMS and polygon rendering (no Keras).

``star_dist`` and ``object_probability`` make training targets; ``non_maximum_suppression``
turns predicted probabilities and distances into kept polygons; ``polygons_to_label``
renders them.  Each matches the stardist package's function of the same name (tests).
"""

from keras_voidseg.stardist.geometry import object_probability, ray_angles, star_dist
from keras_voidseg.stardist.nms import non_maximum_suppression
from keras_voidseg.stardist.render import polygons_to_label

__all__ = ["non_maximum_suppression", "object_probability", "polygons_to_label", "ray_angles", "star_dist"]
