"""Serving from a stored run: component scores → α-blend → top-K, similar items, cold start.

Scores are computed per user batch (two matmuls), so a full users × items matrix never exists
beyond one batch, and changing α only re-weights the two stored component scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.evaluation.metrics import topk_items
from recsys.evaluation.segments import users_alpha
from recsys.features import OOV, ItemFeatures, sequence_from_items


@dataclass
class ServingVectors:
    """The stored component vectors: any α re-ranks from these with two matmuls."""

    cf_user: np.ndarray  # [n_users, d]
    cf_item: np.ndarray  # [n_items, d]
    cf_bias: np.ndarray  # [n_items]
    seq_user: np.ndarray  # [n_users, d]  LSTM user interest vectors
    content_item: np.ndarray  # [n_items, d]
    content_bias: np.ndarray  # [n_items]

    def scores(self, users, alpha: float | None = None):
        """(cf [b, n_items], content [b, n_items]) float32 scores, or the α-blend when alpha is given."""
        users = np.asarray(users)
        cf = self.cf_user[users] @ self.cf_item.T
        cf += self.cf_bias  # in place: a second score matrix cost more than the add (64 MB at 50k items)
        content = self.seq_user[users] @ self.content_item.T
        content += self.content_bias
        if alpha is None:
            return cf, content
        return blend(cf, content, alpha)

    def blends(self, users, alphas) -> list:
        """The blended scores `[b, n_items]` at each of `alphas`, from one pair of component matmuls."""
        cf, content = self.scores(users)
        return [blend(cf, content, a) for a in alphas]

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def seen_matrix(run) -> sp.csr_matrix:
    """csr `[n_users, n_items]`: the items each user already had (never recommended)."""
    ev = run.events
    data = np.ones(len(ev), np.float32)
    m = sp.csr_matrix((data, (ev["user"].to_numpy(), ev["item"].to_numpy())), shape=(run.n_users, run.n_items))
    m.sum_duplicates()
    return m


def component_scores(run, users) -> tuple[np.ndarray, np.ndarray]:
    """(cf `[b, n_items]`, content `[b, n_items]`) for user indices."""
    return run.vectors.scores(np.asarray(users, dtype=np.int64))


FALLBACK_ALPHA = 0.5  # a run with neither a fixed α nor a validation choice blends both parts equally


def blend(cf, content, alpha, *, out=None):
    """m̂ = α·cf + (1−α)·content: the one α blend (scores, CSVs, pages, explanations, the CLI).

    `alpha` is a number in [0, 1] or an array that broadcasts against the scores (α per user).
    `out`: a float32 array shaped like the scores to write into (no new score matrix; same values).
    """
    a = np.asarray(alpha, dtype=np.float32)
    if not np.all((a >= 0.0) & (a <= 1.0)):
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    if a.ndim == 0:
        a = float(a)
    if out is None:
        return a * cf + (1.0 - a) * content
    np.multiply(cf, a, out=out)
    out += (1.0 - a) * content
    return out


def default_alpha(run) -> float:
    """The one default-α rule: the run's fixed α, else the α chosen on validation, else 0.5.

    `run` is a stored run (`recsys.store.Run`) or anything with its `config` and `metrics` dicts.
    """
    alpha = (getattr(run, "config", None) or {}).get("alpha")
    if alpha is None:
        alpha = ((getattr(run, "metrics", None) or {}).get("validation") or {}).get("best_alpha")
    return float(FALLBACK_ALPHA if alpha is None else alpha)


def _exclude(scores: np.ndarray, exclude_rows: sp.csr_matrix | None) -> np.ndarray:
    if exclude_rows is not None and exclude_rows.nnz:
        rows = np.repeat(np.arange(exclude_rows.shape[0]), np.diff(exclude_rows.indptr))
        scores[rows, exclude_rows.indices] = -np.inf
    return scores


def recommend_batches(run, users=None, *, k: int = 10, alpha: float | None = None, batch_size: int = 1024,
                      alpha_by_segment: bool = False):
    """Yields one long-form frame per user batch: user, item, rank, score, cf_score, content_score.

    Never includes an item the user already had. If a user has seen almost the whole catalogue,
    the list is shorter than k. With `alpha_by_segment` each user is blended with the α chosen on
    validation for their activity segment (`recsys.evaluation.segments.users_alpha`; `alpha` where the
    run has none).
    """
    alpha = default_alpha(run) if alpha is None else float(alpha)
    users = np.arange(run.n_users) if users is None else np.asarray(users, dtype=np.int64)
    seen = seen_matrix(run)
    k = min(int(k), run.n_items)
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        cf, content = component_scores(run, batch)
        if alpha_by_segment:
            a = users_alpha(run, batch, default=alpha).astype(np.float32)[:, None]
            scores = _exclude(blend(cf, content, a), seen[batch])
        else:
            scores = _exclude(blend(cf, content, alpha), seen[batch])
        top = topk_items(scores, k)
        top_scores = np.take_along_axis(scores, top, axis=1)
        valid = np.isfinite(top_scores)
        rows = np.repeat(np.arange(len(batch)), k).reshape(len(batch), k)
        frame = pd.DataFrame({
            "user": batch[rows[valid]],
            "item": top[valid],
            "rank": (np.broadcast_to(np.arange(1, k + 1), top.shape))[valid],
            "score": top_scores[valid],
            "cf_score": np.take_along_axis(cf, top, axis=1)[valid],
            "content_score": np.take_along_axis(content, top, axis=1)[valid],
        })
        yield frame


def recommend(run, users=None, *, k: int = 10, alpha: float | None = None,
              alpha_by_segment: bool = False) -> pd.DataFrame:
    """Top-k for the given user indices (default: all), with original ids and the score split."""
    frames = list(recommend_batches(run, users, k=k, alpha=alpha, alpha_by_segment=alpha_by_segment))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["user", "item", "rank", "score", "cf_score", "content_score"])
    return with_ids(run, out)


def with_ids(run, frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.insert(0, "user_id", np.asarray(run.user_ids, dtype=object)[out["user"].to_numpy(dtype=np.int64)])
    out.insert(1, "item_id", run.item_ids[out["item"].to_numpy(dtype=np.int64)])
    out["title"] = run.items["title"].to_numpy(dtype=object)[out["item"].to_numpy(dtype=np.int64)]
    return out


def rerank_user(cf_row: np.ndarray, content_row: np.ndarray, seen_items, *, alpha: float, k: int = 10):
    """Top-k item indices and blended scores for one user from precomputed component rows.

    This is the instant α slider path: one weighted sum and a partial sort over the catalogue.
    """
    scores = blend(cf_row, content_row, alpha).astype(np.float32, copy=True)
    seen_items = np.asarray(seen_items, dtype=np.int64)
    if len(seen_items):
        scores[seen_items] = -np.inf
    top = topk_items(scores, k)
    top = top[np.isfinite(scores[top])]
    return top, scores[top]


def user_history(run, user: int) -> pd.DataFrame:
    """The user's events in time order with item ids and titles."""
    ev = run.events[run.events["user"] == user]
    items = ev["item"].to_numpy(dtype=np.int64)
    return pd.DataFrame({
        "item": items,
        "item_id": run.item_ids[items],
        "title": run.items["title"].to_numpy(dtype=object)[items],
        "timestamp": ev["timestamp"].to_numpy(),
    })


def similar_items(run, item: int, *, k: int = 10, part: str = "content") -> pd.DataFrame:
    """Nearest items by cosine similarity of the chosen part's item vectors ('cf' or 'content')."""
    vectors = np.asarray(run.vectors.content_item if part == "content" else run.vectors.cf_item)
    norms = np.linalg.norm(vectors, axis=1) + 1e-9
    sims = (vectors @ vectors[item]) / (norms * norms[item])
    sims[item] = -np.inf
    top = topk_items(sims, k)
    return pd.DataFrame({"item": top, "item_id": run.item_ids[top],
                         "title": run.items["title"].to_numpy(dtype=object)[top], "similarity": sims[top]})


class ColdStartScorer:
    """Cold-start paths that need the item and user towers (loads the Keras model once)."""

    def __init__(self, run):
        self.run = run
        self.model = run.load_model()
        self.vectorizer = run.text_vectorizer()
        self.encoder = run.category_encoder()
        self.seq_len = int(run.config["seq_len"])

    def new_user_vectors(self, item_indices) -> tuple[np.ndarray, np.ndarray]:
        """(cf vector, LSTM vector) for a user who picked `item_indices` (oldest first), no retraining.

        The LSTM reads the picked items like any history. The CF vector is the same fold-in that every
        trained user's CF vector includes, `recsys.models.fold_in_cf_vector` over the last `seq_len`
        picks, with no per-user offset (U = 0 for someone the model never saw). Runs trained before
        the fold-in existed fall back to the mean of the picked items' CF vectors.
        """
        import keras

        from recsys.models import fold_in_cf_vector

        items = np.asarray(list(item_indices), dtype=np.int64)
        if len(items) == 0:
            raise ValueError("pick at least one item to build a new user")
        seq = sequence_from_items(items, seq_len=self.seq_len)
        vec = self.model.sequence_user_vectors(keras.ops.convert_to_tensor(seq), training=False)
        seq_vec = np.asarray(keras.ops.convert_to_numpy(vec), np.float32)[0]
        if self.model.cf_context_table() is not None:
            context = keras.ops.convert_to_numpy(self.model.cf_context_table())
            cf_vec = fold_in_cf_vector(context, items, seq_len=self.seq_len)
        else:
            cf_vec = np.asarray(self.run.vectors.cf_item)[items].mean(axis=0)
        return cf_vec, seq_vec

    def recommend_for_new_user(self, item_indices, *, k: int = 10, alpha: float | None = None) -> pd.DataFrame:
        alpha = default_alpha(self.run) if alpha is None else alpha
        cf_vec, seq_vec = self.new_user_vectors(item_indices)
        v = self.run.vectors
        cf = np.asarray(v.cf_item) @ cf_vec + np.asarray(v.cf_bias)
        content = np.asarray(v.content_item) @ seq_vec + np.asarray(v.content_bias)
        top, scores = rerank_user(cf, content, list(item_indices), alpha=alpha, k=k)
        return pd.DataFrame({"item": top, "item_id": self.run.item_ids[top],
                             "title": self.run.items["title"].to_numpy(dtype=object)[top], "score": scores,
                             "cf_score": cf[top], "content_score": content[top]})

    def new_item_vector(self, text: str, categories=()) -> np.ndarray:
        """Content vector of an item described only by text (and categories): no id part, no retraining."""
        import keras

        items = pd.DataFrame({"text": [text], "categories": [list(categories)]})
        f = ItemFeatures.build(items, self.vectorizer, self.encoder)
        if not (f.tokens > OOV).any() and not f.categories.any():
            raise ValueError("the description has no known words: write a few more words about the item")
        vec = self.model.content_item_vectors(
            training=False, tokens=keras.ops.convert_to_tensor(f.tokens),
            categories=keras.ops.convert_to_tensor(f.categories),
            has_text=keras.ops.convert_to_tensor(f.has_text), id_scale=keras.ops.zeros((1,)))
        return np.asarray(keras.ops.convert_to_numpy(vec), np.float32)[0]

    def users_for_new_item(self, text: str, categories=(), *, k: int = 20) -> pd.DataFrame:
        """The users whose LSTM interest vectors score a new item description highest."""
        vec = self.new_item_vector(text, categories)
        scores = np.asarray(self.run.vectors.seq_user) @ vec
        top = topk_items(scores, min(k, len(scores)))
        return pd.DataFrame({"user": top, "user_id": np.asarray(self.run.user_ids, dtype=object)[top],
                             "content_score": scores[top]})
