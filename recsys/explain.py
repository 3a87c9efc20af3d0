"""Why this item for this user: the score of one (user, item) pair split into its causes.

The hybrid score is `m̂ = α · cf + (1 − α) · content` (see `recsys.models`). `explain_pair` splits
each part over the user's history items and the item's words so that the pieces add up:

CF part — exact when the CF user vector is folded in from the user's items (the model's `cf_fold_in`,
`U'_u = U_u + |S|^(-1/2) Σ_{j ∈ S} Y_j` over the last `seq_len` events S, see `recsys.models`):
history item j contributes `n_j · |S|^(-1/2) · ⟨Y_j, V_i⟩` (n_j = its events in S; 0 for older items)
and `cf_residual = ⟨U_u, V_i⟩` is the user's free offset. Runs without the fold-in get an item-based
decomposition (the analogue of implicit's ALS `explain`): the free CF user vector is written as a ridge
combination of the user's distinct history items' CF vectors, `U_u ≈ Σ_j w_j V_j` with
`w = argmin ‖U_u − Σ_j w_j V_j‖² + λ‖w‖²` (λ = `ridge` · mean ‖V_j‖²); item j contributes
`w_j · ⟨V_j, V_i⟩` and `cf_residual = ⟨U_u − Σ_j w_j V_j, V_i⟩` is what the history does not span.
`Explanation.cf_method` says which one was used. Either way

    cf_score = Σ_j cf_contribution_j + cf_residual + cf_bias

exactly (cf_bias = b_i; the residual is taken against the served CF user vector).

Content part — leave-one-out over the sequence. The LSTM reads the user's last `seq_len` events (the
window). Item j's contribution is how much the content score drops when every occurrence of j is taken
out of the window (the rest keeps its order): `content(window) − content(window without j)`. Items
older than the window contribute 0 (`in_window` is False). Leave-one-out terms of a recurrent model do
not add up on their own; what they leave over is reported as `content_interaction`, so

    content_score = Σ_j content_contribution_j + content_interaction + content_empty

exactly, where `content_empty` is the score the model gives the item for an empty window (the LSTM's
starting state, plus the item bias `c_i`).

Words — the text CNN ends in a global max pool: each filter f keeps its largest response `p_f`, won
at one token position. The text part of the item vector is `Dense(p) = Σ_f p_f W_f + b`, so filter f
adds exactly `p_f · ⟨W_f, h⟩` to the content score (h = the LSTM user vector). Every n-gram (the
`kernel_size` tokens a winning position covers) gets the sum over the filters it won: its `weight`
(in score units) and `share` = weight / content_score. The word weights plus `text_bias`
(`⟨b, h⟩`) are the text part of the content score; the id and category parts are the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recsys.serving import blend, default_alpha

CF_METHOD_PROJECTION = "item-based (ridge projection of the CF user vector onto the history items' CF vectors)"
CF_METHOD_FOLD_IN = "exact (the CF user vector is folded in from the last seq_len items; residual = the user's own offset)"
CONTENT_METHOD = "leave-one-out over the LSTM's input window"
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)  # the rule of recsys.features.tokenize
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&=^\"'])")


def token_spans(text: str) -> list[tuple[str, int, int]]:
    """The tokens of `text` as the tokenizer sees them, with their character spans in `text`.

    Same rule as `recsys.features.tokenize` (lower-cased runs of letters and digits).
    """
    text = str(text)
    lower = text.lower()
    if len(lower) != len(text):  # a few Unicode letters change length when lower-cased
        return [(m.group(0), -1, -1) for m in _TOKEN.finditer(lower)]
    return [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(lower)]


def markdown_escape(text: str) -> str:
    """Backslash-escapes Markdown punctuation so the text shows literally (never as HTML or markup)."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


@dataclass
class Explanation:
    """One (user, item) score split into history items and words; see the module docstring."""

    user: int
    item: int
    user_id: str
    item_id: str
    title: str
    alpha: float
    score: float
    cf_score: float
    content_score: float
    cf_bias: float
    cf_residual: float
    content_empty: float
    content_interaction: float
    text_bias: float
    history: pd.DataFrame  # item, item_id, title, cf_contribution, content_contribution, contribution, in_window
    words: pd.DataFrame  # text, weight, share, start, end, token_start, token_end
    text: str
    cf_method: str = CF_METHOD_PROJECTION
    content_method: str = CONTENT_METHOD
    notes: list = field(default_factory=list)

    def highlighted_markdown(self, *, color: str = "orange") -> str:
        """The item text as escaped Markdown with the deciding words (positive weight) highlighted.

        Every character of the text is escaped, so it renders as plain text; only the
        `:color-background[…]` marks are Markdown.
        """
        text = self.text
        spans = []
        for start, end in sorted((int(r.start), int(r.end)) for r in self.words.itertuples()
                                 if r.weight > 0 and r.start >= 0):
            if spans and start <= spans[-1][1] + 1:  # overlapping or touching n-grams: one mark
                spans[-1] = (spans[-1][0], max(spans[-1][1], end))
            else:
                spans.append((start, end))
        out, pos = [], 0
        for start, end in spans:
            out.append(markdown_escape(text[pos:start]))
            out.append(f":{color}-background[{markdown_escape(text[start:end])}]")
            pos = end
        out.append(markdown_escape(text[pos:]))
        return "".join(out)

    def summary(self) -> list[str]:
        """Plain-text lines: how the score splits, and the methods behind each part."""
        return [
            f"score {self.score:.3f} = {self.alpha:.2f} × CF {self.cf_score:.3f} + {1 - self.alpha:.2f} × content "
            f"{self.content_score:.3f}",
            f"CF {self.cf_score:.3f} = history items {float(self.history['cf_contribution'].sum()):.3f} + "
            f"residual {self.cf_residual:.3f} + item bias {self.cf_bias:.3f} — {self.cf_method}",
            f"content {self.content_score:.3f} = history items {float(self.history['content_contribution'].sum()):.3f} "
            f"+ interaction {self.content_interaction:.3f} + empty-history score {self.content_empty:.3f} — "
            f"{self.content_method}",
            f"words: the CNN's max-pool winners, {float(self.words['weight'].sum()) if len(self.words) else 0.0:.3f} "
            f"of the content score (+ text bias {self.text_bias:.3f})",
            *self.notes,
        ]

    def to_dict(self) -> dict:
        """JSON-ready: score, cf_score, content_score, history [{item_id, title, cf_contribution,
        content_contribution, …}], words [{text, weight, …}] and the terms that make the sums exact."""
        history = [{"item_id": str(r.item_id), "title": str(r.title), "cf_contribution": float(r.cf_contribution),
                    "content_contribution": float(r.content_contribution), "contribution": float(r.contribution),
                    "in_window": bool(r.in_window)} for r in self.history.itertuples()]
        words = [{"text": str(r.text), "weight": float(r.weight), "share": float(r.share),
                  "start": int(r.start), "end": int(r.end)} for r in self.words.itertuples()]
        return {
            "user_id": str(self.user_id), "item_id": str(self.item_id), "title": str(self.title),
            "alpha": float(self.alpha), "score": float(self.score), "cf_score": float(self.cf_score),
            "content_score": float(self.content_score), "history": history, "words": words,
            "cf_bias": float(self.cf_bias), "cf_residual": float(self.cf_residual),
            "content_empty": float(self.content_empty), "content_interaction": float(self.content_interaction),
            "text_bias": float(self.text_bias), "text": str(self.text),
            "methods": {"cf": self.cf_method, "content": self.content_method,
                        "words": "CNN global-max-pool winners, weight = their exact share of the content score"},
            "sums": {
                "score": "alpha * cf_score + (1 - alpha) * content_score",
                "cf_score": "sum(history.cf_contribution) + cf_residual + cf_bias",
                "content_score": "sum(history.content_contribution) + content_interaction + content_empty",
                "words": "sum(words.weight) + text_bias = the text part of content_score",
            },
            "notes": list(self.notes),
        }


def _np(x) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float32)


class Explainer:
    """Explains (user, item) scores of a stored run; loads the Keras model once.

    Args:
        run: a `recsys.store.Run`.
        model: the run's Keras model (default: `run.load_model()`).
        ridge: relative ridge strength λ of the CF item-based decomposition.
    """

    def __init__(self, run, *, model=None, ridge: float = 0.1):
        self.run = run
        self.model = model if model is not None else run.load_model()
        self.ridge = float(ridge)
        self.seq_len = int(run.config["seq_len"])
        v = run.vectors
        self.cf_user = np.asarray(v.cf_user, np.float32)
        self.cf_item = np.asarray(v.cf_item, np.float32)
        self.cf_bias_vec = np.asarray(v.cf_bias, np.float32)
        self.content_item = np.asarray(v.content_item, np.float32)
        self.content_bias_vec = np.asarray(v.content_bias, np.float32)
        context = self.model.cf_context_table()
        self.cf_context = _np(context) if context is not None else None  # Y [n_items, d] or None
        self.cf_method = CF_METHOD_FOLD_IN if self.cf_context is not None else CF_METHOD_PROJECTION
        self._item_vectors = None
        self._user_rows = None
        self._states_fn = None

    # ----- lookups ---------------------------------------------------------------------------
    def user_index(self, user_id) -> int:
        index = {str(u): i for i, u in enumerate(self.run.user_ids)}
        if str(user_id) not in index:
            raise ValueError(f"unknown user id {user_id!r}: it is not in the run's data")
        return index[str(user_id)]

    def item_index(self, item_id) -> int:
        ids = [str(i) for i in self.run.item_ids]
        try:
            return ids.index(str(item_id))
        except ValueError:
            raise ValueError(f"unknown item id {item_id!r}: it is not in the run's catalogue") from None

    def user_items(self, user: int) -> np.ndarray:
        """The user's items in time order (repeats kept), from the run's events."""
        if self._user_rows is None:
            ev = self.run.events
            users = ev["user"].to_numpy(np.int64)
            order = np.argsort(users, kind="stable")
            self._sorted_items = ev["item"].to_numpy(np.int64)[order]
            self._user_rows = np.searchsorted(users[order], np.arange(self.run.n_users + 1))
        lo, hi = self._user_rows[user], self._user_rows[user + 1]
        return self._sorted_items[lo:hi]

    # ----- parts -----------------------------------------------------------------------------
    def cf_part(self, user: int, item: int, history: np.ndarray, items_in_order: np.ndarray | None = None):
        """(contributions [m] per distinct history item, residual, bias); see the module docstring.

        `items_in_order` (the user's events, oldest first) is needed for the exact fold-in path.
        """
        u = self.cf_user[user]
        target = self.cf_item[item]
        bias = float(self.cf_bias_vec[item])
        if self.cf_context is not None:
            window = np.asarray(items_in_order if items_in_order is not None else history, np.int64)[-self.seq_len:]
            counts = np.array([np.count_nonzero(window == j) for j in history], np.float64)
            scale = 1.0 / np.sqrt(max(len(window), 1))
            per_item = self.cf_context[history].astype(np.float64) @ target if len(history) else np.zeros(0)
            contrib = counts * scale * per_item
            folded = (self.cf_context[window].astype(np.float64).sum(axis=0) * scale if len(window)
                      else np.zeros_like(u, dtype=np.float64))
            return contrib.astype(np.float32), float((u - folded) @ target), bias
        if len(history) == 0:
            return np.zeros(0, np.float32), float(u @ target), bias
        V = self.cf_item[history].astype(np.float64)  # [m, d]
        lam = self.ridge * max(float(np.mean(np.sum(V * V, axis=1))), 1e-12)
        d = V.shape[1]
        z = np.linalg.solve(V.T @ V + lam * np.eye(d), u.astype(np.float64))  # push-through: w = V z
        w = V @ z
        contrib = w * (V @ target)
        residual = float((u - V.T @ w) @ target)
        return contrib.astype(np.float32), residual, bias

    def _sequence_vectors(self, rows: np.ndarray) -> np.ndarray:
        """LSTM user vectors `[R, d]` of padded input rows `[R, seq_len]` (compiled once on TensorFlow)."""
        import keras

        if self._states_fn is None:
            self._item_vectors = keras.ops.convert_to_tensor(self.content_item)

            def last_states(batch):
                return self.model.sequence_states(batch, self._item_vectors, training=False)[:, -1, :]

            self._states_fn = last_states
            if keras.backend.backend() == "tensorflow":  # eager LSTM steps cost ~10x a traced call
                import tensorflow as tf

                self._states_fn = tf.function(last_states, reduce_retracing=True,
                                              input_signature=[tf.TensorSpec([None, self.seq_len], tf.int32)])
        return _np(self._states_fn(keras.ops.convert_to_tensor(rows.astype(np.int32))))

    def content_part(self, item: int, items_in_order: np.ndarray, distinct: np.ndarray):
        """(h_full [d], contributions [m], interaction, empty score, content score) by leave-one-out."""
        window = items_in_order[-self.seq_len:]
        in_window = np.isin(distinct, window)
        rows = np.zeros((2 + int(in_window.sum()), self.seq_len), np.int32)
        if len(window):
            rows[0, self.seq_len - len(window):] = window + 1
        # row 1 stays all padding: the empty window
        for r, j in enumerate(distinct[in_window], start=2):
            rest = window[window != j]
            if len(rest):
                rows[r, self.seq_len - len(rest):] = rest + 1
        h = self._sequence_vectors(rows)  # [rows, d]
        target = self.content_item[item]
        bias = float(self.content_bias_vec[item])
        scores = h.astype(np.float64) @ target + bias
        full, empty = float(scores[0]), float(scores[1])
        contrib = np.zeros(len(distinct), np.float32)
        contrib[in_window] = full - scores[2:]
        interaction = full - empty - float(contrib.sum())
        return h[0], contrib, interaction, empty, full, in_window

    def word_part(self, item: int, h: np.ndarray, content_score: float):
        """(words frame, text_bias): the CNN's max-pool winners and their exact content-score weights."""
        import keras

        tower = self.model.item_tower
        tokens = np.asarray(keras.ops.convert_to_numpy(self.model.item_tokens[item]), np.int64)[None, :]
        has_text = float(_np(self.model.item_has_text)[item])
        text = str(self.run.items["text"].iat[item]) if "text" in self.run.items else ""
        empty = pd.DataFrame(columns=["text", "weight", "share", "start", "end", "token_start", "token_end"])
        if has_text < 0.5 or not (tokens > 0).any():
            return empty, 0.0
        t = keras.ops.convert_to_tensor(tokens.astype(np.int32))
        words = tower.word_embedding(t)
        mask = keras.ops.cast(keras.ops.not_equal(t, 0), words.dtype)[..., None]
        feats = _np(tower.conv(words) * mask)[0]  # [T, F]
        kernel = _np(tower.text_dense.kernel)  # [F, d]
        dense_bias = _np(tower.text_dense.bias)  # [d]
        pooled = feats.max(axis=0)  # [F]
        winner = feats.argmax(axis=0)  # [F] first position on ties
        per_filter = pooled * (kernel @ h)  # [F]: exact share of <h, text_vec>
        text_bias = float(dense_bias @ h)
        n_tokens = int((tokens[0] > 0).sum())
        k = int(tower.kernel_size)
        left = (k - 1) // 2  # "same" padding: position t covers tokens t-left .. t-left+k-1
        spans = token_spans(text)[: tokens.shape[1]]
        by_position: dict[int, float] = {}
        for f in np.flatnonzero(pooled > 0):
            by_position[int(winner[f])] = by_position.get(int(winner[f]), 0.0) + float(per_filter[f])
        rows = []
        for pos, weight in by_position.items():
            lo, hi = max(0, pos - left), min(n_tokens, pos - left + k)
            if lo >= hi or hi > len(spans):
                continue
            part = spans[lo:hi]
            start, end = part[0][1], part[-1][2]
            shown = text[start:end] if start >= 0 else " ".join(w for w, _, _ in part)
            rows.append({"text": shown, "weight": weight, "share": weight / content_score if content_score else 0.0,
                         "start": start, "end": end, "token_start": lo, "token_end": hi})
        if not rows:
            return empty, text_bias
        frame = pd.DataFrame(rows)
        # Overlapping winners with the same n-gram text are one entry.
        frame = (frame.groupby(["token_start", "token_end"], as_index=False)
                 .agg(text=("text", "first"), weight=("weight", "sum"), start=("start", "first"), end=("end", "first")))
        frame["share"] = frame["weight"] / content_score if content_score else 0.0
        frame = frame.sort_values("weight", ascending=False, kind="stable").reset_index(drop=True)
        return frame[["text", "weight", "share", "start", "end", "token_start", "token_end"]], text_bias

    # ----- the explanation -------------------------------------------------------------------
    def explain(self, user: int, item: int, *, alpha: float | None = None) -> Explanation:
        """The explanation of user index `user` × item index `item` at `alpha` (default: the run's α)."""
        run = self.run
        if not 0 <= int(user) < run.n_users:
            raise ValueError(f"user index {user} is outside [0, {run.n_users})")
        if not 0 <= int(item) < run.n_items:
            raise ValueError(f"item index {item} is outside [0, {run.n_items})")
        alpha = default_alpha(run) if alpha is None else float(alpha)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
        user, item = int(user), int(item)
        items_in_order = self.user_items(user)
        distinct = np.asarray(list(dict.fromkeys(items_in_order.tolist())), np.int64)
        cf_contrib, cf_residual, cf_bias = self.cf_part(user, item, distinct, items_in_order)
        cf_score = float(cf_contrib.sum()) + cf_residual + cf_bias
        h, content_contrib, interaction, empty, content_score, in_window = self.content_part(item, items_in_order, distinct)
        words, text_bias = self.word_part(item, h, content_score)
        titles = run.items["title"].to_numpy(dtype=object)
        history = pd.DataFrame({
            "item": distinct, "item_id": run.item_ids[distinct], "title": titles[distinct],
            "cf_contribution": cf_contrib, "content_contribution": content_contrib,
            "contribution": blend(cf_contrib, content_contrib, alpha), "in_window": in_window,
        }).sort_values("contribution", ascending=False, kind="stable").reset_index(drop=True)
        notes = []
        if (~in_window).any():
            parts = "content and CF contributions are" if self.cf_context is not None else "content contribution is"
            notes.append(f"{int((~in_window).sum())} older history item(s) lie outside the window of the last "
                         f"{self.seq_len} events the model reads: their {parts} 0")
        return Explanation(
            user=user, item=item, user_id=str(run.user_ids[user]), item_id=str(run.item_ids[item]),
            title=str(titles[item]), alpha=alpha, score=float(blend(cf_score, content_score, alpha)),
            cf_score=cf_score, content_score=content_score, cf_bias=cf_bias, cf_residual=cf_residual,
            content_empty=empty, content_interaction=interaction, text_bias=text_bias, history=history,
            words=words, text=str(run.items["text"].iat[item]) if "text" in run.items else "",
            cf_method=self.cf_method, notes=notes)


def explain_pair(run, user: int, item: int, *, alpha: float | None = None, model=None) -> Explanation:
    """One-off `Explainer(run, model=model).explain(user, item, alpha=alpha)` (indices, not ids)."""
    return Explainer(run, model=model).explain(user, item, alpha=alpha)
