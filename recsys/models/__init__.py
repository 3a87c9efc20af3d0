"""The model: towers (`towers`), the next-item task that owns the loss (`tasks`), the hybrid that
joins them (`hybrid`) and loading saved models of every format (`saving`)."""

from recsys.models.hybrid import MODEL_FORMAT, HybridRecommender
from recsys.models.saving import ModelFormatError, load_hybrid
from recsys.models.tasks import NEG_INF, NextItemTask
from recsys.models.towers import USER_CELLS, CFTower, ItemContentTower, SequenceUserTower, fold_in_cf_vector

__all__ = ["MODEL_FORMAT", "NEG_INF", "USER_CELLS", "CFTower", "HybridRecommender", "ItemContentTower",
           "ModelFormatError", "NextItemTask", "SequenceUserTower", "fold_in_cf_vector", "load_hybrid"]
