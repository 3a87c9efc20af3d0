"""Loading a run's `.keras` model, in Keras safe mode, whatever model format wrote it.

Format 2 (today) is a plain `keras.saving.load_model`. Format 1 runs (one flat model, before the
towers) are rebuilt from their config and their weights are copied from the file's HDF5 arrays by
name, so runs written before the restructuring keep serving, explaining and exporting. Nothing is
unpickled either way.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np

from recsys.models.hybrid import MODEL_FORMAT, HybridRecommender


class ModelFormatError(ValueError):
    """A model file this version cannot read (newer format, or a format-1 file with unexpected weights)."""


REGISTERED_NAME = "recsys>HybridRecommender"


def model_format(path) -> int | None:
    """The format of the hybrid saved in the `.keras` file at `path` (1 before the towers, 2), or None
    when the file does not hold a `HybridRecommender` (Keras then decides, in safe mode)."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    if not isinstance(config, dict) or config.get("registered_name") != REGISTERED_NAME:
        return None
    inner = config.get("config")
    return int(inner.get("model_format", 1)) if isinstance(inner, dict) else None


def load_hybrid(path):
    """The `HybridRecommender` saved at `path`: format 2 and any other file through Keras in safe mode
    (which refuses Lambda layers and unknown classes), format 1 by `load_format_1`."""
    path = Path(path)
    found = model_format(path)
    if found == 1:
        return load_format_1(path)
    if found is None or found == MODEL_FORMAT:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    raise ModelFormatError(f"{path}: model format {found} is newer than this studio reads (format {MODEL_FORMAT}); "
                           "update the studio to load this run")


def format_1_targets(model: HybridRecommender, *, log_q: bool) -> dict:
    """HDF5 path in a format-1 file → the variable of today's model that holds that weight."""
    bias_names = ["cf_bias", "content_bias", "item_tokens", "item_categories", "item_has_text", "item_trained"]
    targets = {f"vars/{i}": getattr(model, name) for i, name in enumerate(bias_names)}
    if log_q:
        targets[f"vars/{len(bias_names)}"] = model.task.target_share
    cf = model.cf_tower
    targets["layers/embedding/vars/0"] = cf.user_embedding.embeddings
    targets["item_embedding/vars/0"] = cf.item_embedding.embeddings
    if cf.context is not None:
        targets["cf_context/vars/0"] = cf.context.embeddings
    tower = model.item_tower
    for layer in (tower.category_dense, tower.conv, tower.id_embedding, tower.text_dense, tower.word_embedding):
        for i, variable in enumerate(layer.weights):
            targets[f"item_tower/{layer.name}/vars/{i}"] = variable
    cell = model.user_tower.rnn.cell
    for i, variable in enumerate((cell.kernel, cell.recurrent_kernel, cell.bias)):
        targets[f"layers/lstm/cell/vars/{i}"] = variable
    dense = model.user_tower.dense
    targets["layers/dense/vars/0"], targets["layers/dense/vars/1"] = dense.kernel, dense.bias
    return targets


def load_format_1(path) -> HybridRecommender:
    """Rebuilds a format-1 model from its config and copies every weight by its HDF5 path."""
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))["config"]
        weights = io.BytesIO(archive.read("model.weights.h5"))
    config = {k: v for k, v in config.items() if k not in ("trainable", "dtype")}
    model = HybridRecommender.from_config({**config, "user_cell": "lstm"})
    model.build()
    targets = format_1_targets(model, log_q=bool(config.get("log_q")))
    with h5py.File(weights, "r") as store:
        arrays = {}
        store.visititems(lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    missing = sorted(set(targets) - set(arrays))
    if missing:
        raise ModelFormatError(f"{path}: a format-1 model file without the weights {', '.join(missing)}; "
                               "train the run again")
    for name, variable in targets.items():
        value = np.asarray(arrays[name])
        if tuple(value.shape) != tuple(variable.shape):
            raise ModelFormatError(f"{path}: weight {name} has shape {value.shape}, expected {tuple(variable.shape)}; "
                                   "train the run again")
        variable.assign(value.astype(variable.dtype))
    return model
