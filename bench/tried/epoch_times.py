"""Seconds of steps, catch-up and user/item vectors per epoch on a shape, lazy vs dense Adam.

Needs the tree patched with lazy-adam-and-per-column-logits.patch (FusedAdam(lazy_min_rows=...),
catch_up): `python bench/tried/epoch_times.py wide lazy 4`, then `... wide dense 4`.
"""
import math
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
import keras
import numpy as np
from shapes import shape_dataset
from recsys.config import TrainConfig
from recsys.features import TextVectorizer, CategoryEncoder, ItemFeatures, training_windows
from recsys.training.fit import build_model, make_input_pipeline, target_counts, compute_serving_vectors
from recsys.training.optimizer import FusedAdam
name, mode, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
cfg = TrainConfig()
ds = shape_dataset(name)
ev = ds.events.sort_values(["user", "timestamp"])
items = ds.items
vec = TextVectorizer(max_tokens=cfg.max_vocab, sequence_length=cfg.text_len).fit(items["text"], trim=True)
enc = CategoryEncoder().fit(items["categories"])
feats = ItemFeatures.build(items, vec, enc)
win = training_windows(ev, seq_len=cfg.seq_len)
n_items = len(items)
model = build_model(n_users=ds.n_users, n_items=n_items, vectorizer=vec, encoder=enc, config=cfg)
model.set_item_features(feats, np.ones(n_items, bool))
model.set_sampling_distribution(target_counts(win, n_items))
model.compile(optimizer=FusedAdam(learning_rate=cfg.lr, clipnorm=5.0, lazy_min_rows=None if mode.startswith("lazy") else 0), jit_compile=False)
pipe = make_input_pipeline(win, batch_size=cfg.batch_size, seed=0).repeat()
steps = math.ceil(len(win["user"]) / cfg.batch_size)
seqs = np.random.default_rng(0).integers(1, n_items, size=(1000, 20)).astype(np.int32)
class T(keras.callbacks.Callback):
    def on_epoch_begin(self, e, logs=None): self.t = time.perf_counter()
    def on_epoch_end(self, e, logs=None):
        t0 = time.perf_counter()
        if mode == "lazy": self.model.optimizer.catch_up()
        t1 = time.perf_counter(); compute_serving_vectors(self.model, seqs); t2 = time.perf_counter()
        print(f"catch_up {t1-t0:.2f}s", flush=True)
        t1 = t0
        print(f"EPOCH {mode} {e+1} steps {t1-self.t:.1f}s val {t2-t1:.2f}s rss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1e6:.2f}GB", flush=True)
model.fit(pipe, steps_per_epoch=steps, epochs=epochs, verbose=0, callbacks=[T()])
