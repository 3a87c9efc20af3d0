"""Evaluation: full-ranking metrics, the α sweep, the baselines, the test report and its segments.

Nothing here trains a model: `recsys.training` fits and hands over the component vectors; these modules
score them on a leave-last-out split.
"""

from recsys.evaluation.baselines import (EASERecommender, ItemKNNRecommender, NotFittedError, PopularityRecommender,
                                         tune_ease, tune_item_knn)
from recsys.evaluation.metrics import ALPHA_GRID, alpha_sweep, full_ranking_metrics, interaction_matrix, topk_items
from recsys.evaluation.protocol import EVALUATION_PROTOCOL, evaluate_baselines, evaluation_report, metrics_table
from recsys.evaluation.segments import segment_report

__all__ = [
    "ALPHA_GRID", "EVALUATION_PROTOCOL", "EASERecommender", "ItemKNNRecommender", "NotFittedError",
    "PopularityRecommender", "alpha_sweep", "evaluate_baselines", "evaluation_report", "full_ranking_metrics",
    "interaction_matrix", "metrics_table", "segment_report", "topk_items", "tune_ease", "tune_item_knn",
]
