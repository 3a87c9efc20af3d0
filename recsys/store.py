"""Run storage: one immutable folder per trained (data, config) pair.

A run folder holds `config.json`, `fingerprint.json`, `model.keras`, the serving vectors of both
parts (`vectors/*.npy`), the id maps and item table (`users.parquet`, `items.parquet`), the events the
model serves from (`events.parquet`: user histories and seen items), the tokenizer and category
vocabularies, `metrics.json`, `history.json` and, written last, `COMPLETE`.

Runs are written into a temporary sibling folder and renamed into place, so a crash or a kill
half-way never leaves a folder that is listed or served as complete. Nothing is ever unpickled:
arrays load with `allow_pickle=False` and the model with Keras safe mode.

`RunStore` owns the layout of the store folder (runs, evaluation reports, projection caches); every
other module asks it for paths.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.config import TrainConfig

COMPLETE = "COMPLETE"
EVALUATIONS = "evaluations"  # store sub-folders beside the runs (see RunStore)
PROJECTIONS = "projections"
VECTOR_NAMES = ("cf_user", "cf_item", "cf_bias", "seq_user", "content_item", "content_bias")
RUN_FILES = ("config.json", "fingerprint.json", "model.keras", *(f"vectors/{n}.npy" for n in VECTOR_NAMES),
             "users.parquet", "items.parquet", "events.parquet", "text_vectorizer.json", "category_encoder.json",
             "history.json", "metrics.json")  # every file of a run folder but COMPLETE (written last)
_RUN_ID = re.compile(r"^[0-9a-f]{8,64}$")


class RunStoreError(RuntimeError):
    """A run could not be written or read; the message says where and what to do."""


RUN_PROTOCOL = 2  # 2: a run trains on the leave-last-out train part and stores its test report


def run_key(fingerprint: str, config: TrainConfig) -> str:
    """The run id: a hash of the data fingerprint, the model-shaping settings and the run protocol.

    Runs of an older protocol keep loading and stay listed; the same data + config simply trains a
    new run (which carries its test report) instead of reusing them.
    """
    return hashlib.sha256(f"{fingerprint}:{config.model_key()}:protocol-{RUN_PROTOCOL}".encode()).hexdigest()[:20]


def default_runs_dir() -> Path:
    return Path(os.environ.get("RECSYS_RUNS_DIR", "runs")).resolve()


def is_complete(path: Path) -> bool:
    return (Path(path) / COMPLETE).is_file()


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default))


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def check_writable(path) -> None:
    """Fails fast, before any training, when a run could not be written to `path`.

    Raises RunStoreError naming the folder and what to do (same messages as `write_run`).
    """
    path = Path(path)
    _refuse_foreign(path)
    probe = path.parent / f".tmp-probe-{uuid.uuid4().hex[:8]}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe.mkdir()
        (probe / "probe").write_bytes(b"ok")
    except OSError as e:
        raise RunStoreError(_write_error_message(path, e)) from e
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def write_run(path, *, trained, dataset, config: TrainConfig, events: pd.DataFrame, metrics: dict, key: str) -> Path:
    """Writes a complete run to `path` atomically (temporary sibling folder, then rename).

    Raises RunStoreError with the folder and the reason (no space, no permission …).
    """

    def write_files(tmp: Path) -> None:
        _write_json(tmp / "config.json", {**config.to_dict(), "run_id": key})
        _write_json(tmp / "fingerprint.json", {"fingerprint": dataset.fingerprint(), "dataset": dataset.name,
                                               "n_users": dataset.n_users, "n_items": dataset.n_items})
        trained.model.save(tmp / "model.keras")
        vec_dir = tmp / "vectors"
        vec_dir.mkdir()
        for name, arr in trained.vectors.as_dict().items():
            np.save(vec_dir / f"{name}.npy", np.ascontiguousarray(arr, dtype=np.float32), allow_pickle=False)
        pd.DataFrame({"user_id": np.asarray(dataset.user_ids, dtype=str)}).to_parquet(tmp / "users.parquet")
        items = dataset.items[["item_id", "title", "text", "categories", "n_events"]].copy()
        items["categories"] = items["categories"].map(lambda c: list(c))
        items.to_parquet(tmp / "items.parquet")
        events[["user", "item", "timestamp"]].reset_index(drop=True).to_parquet(tmp / "events.parquet")
        _write_json(tmp / "text_vectorizer.json", trained.vectorizer.get_config())
        _write_json(tmp / "category_encoder.json", trained.category_encoder.get_config())
        _write_json(tmp / "history.json", trained.history)
        _write_json(tmp / "metrics.json", metrics)

    return write_run_files(path, key=key, write_files=write_files)


def write_run_files(path, *, key: str, write_files) -> Path:
    """Writes a run folder atomically: `write_files(tmp)` fills a temporary sibling folder with every
    file of `RUN_FILES`, then `COMPLETE` is written and the folder renamed into place.

    If `path` already holds the complete run `key`, it is kept and the new files are dropped. Any
    exception from `write_files` (e.g. a refused bundle member) removes the temporary folder and is
    re-raised, so nothing is left behind; OSErrors become a RunStoreError naming the folder and the fix.
    """
    path = Path(path)
    _refuse_foreign(path)
    tmp = path.parent / f".tmp-{path.name}-{uuid.uuid4().hex[:8]}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        write_files(tmp)
        _write_json(tmp / COMPLETE, {"completed_at": _dt.datetime.now(_dt.timezone.utc).isoformat()})
        if path.exists():
            if is_complete(path) and _stored_run_id(path) == key:
                shutil.rmtree(tmp, ignore_errors=True)  # the same run finished first elsewhere: keep it
                return path
            # An incomplete leftover, or another run in an explicit --run-dir: move it aside, then swap.
            old = path.parent / f".old-{path.name}-{uuid.uuid4().hex[:8]}"
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
            return path
        try:
            os.replace(tmp, path)
        except OSError:
            if is_complete(path) and _stored_run_id(path) == key:  # another process finished it meanwhile
                shutil.rmtree(tmp, ignore_errors=True)
                return path
            raise
        return path
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RunStoreError(_write_error_message(path, e)) from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_error_message(path: Path, e: OSError) -> str:
    reason = {28: "the disk is full", 13: "permission denied", 30: "the file system is read-only",
              17: "a part of that path is a file, not a folder", 20: "a part of that path is a file, not a folder"
              }.get(e.errno, e.strerror or str(e))
    return (f"could not write the run to {path}: {reason}. "
            "Free some space or choose a writable run folder (RECSYS_RUNS_DIR / --run-dir).")


def _refuse_foreign(path: Path) -> None:
    """Never swap away a user's own file or folder (a --run-dir typo)."""
    if path.exists() and not _replaceable(path):
        raise RunStoreError(f"could not write the run to {path}: it exists and is not a run folder. "
                            "Choose a new or empty folder (RECSYS_RUNS_DIR / --run-dir).")


def stored_run(path, key: str):
    """The complete run at `path` if it is the run `key`, else None (the same data + config trained before)."""
    path = Path(path)
    if is_complete(path):
        existing = load_run(path)
        if existing.run_id == key:
            return existing
    return None


def _replaceable(path: Path) -> bool:
    """An existing folder write_run may replace: empty, or a (possibly incomplete) run folder."""
    return path.is_dir() and (is_complete(path) or (path / "config.json").is_file() or not any(path.iterdir()))


def _stored_run_id(path: Path) -> str | None:
    try:
        return json.loads((path / "config.json").read_text()).get("run_id")
    except (OSError, json.JSONDecodeError):
        return None


@dataclass
class Run:
    """A completed run loaded from disk (vectors memory-mapped; the Keras model loads on demand)."""

    path: Path
    config: dict
    fingerprint: dict
    metrics: dict
    history: list
    vectors: object  # recsys.serving.ServingVectors
    user_ids: np.ndarray
    items: pd.DataFrame
    events: pd.DataFrame

    @property
    def run_id(self) -> str:
        return self.config.get("run_id", self.path.name)

    @property
    def item_ids(self) -> np.ndarray:
        return self.items["item_id"].to_numpy(dtype=object)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def train_config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.config)

    def load_model(self):
        """The Keras model, loaded in safe mode (no arbitrary code or pickles)."""
        from recsys.models import load_hybrid  # here, not at the top: listing runs needs no Keras

        return load_hybrid(self.path / "model.keras")

    def text_vectorizer(self):
        from recsys.features import TextVectorizer

        return TextVectorizer.from_config(json.loads((self.path / "text_vectorizer.json").read_text()))

    def category_encoder(self):
        from recsys.features import CategoryEncoder

        return CategoryEncoder.from_config(json.loads((self.path / "category_encoder.json").read_text()))


def load_run(path) -> Run:
    """Loads a complete run folder; raises RunStoreError if it is missing or incomplete."""
    from recsys.serving import ServingVectors

    path = Path(path)
    if not path.is_dir():
        raise RunStoreError(f"no run at {path}: train one first (python -m recsys train … --run-dir {path})")
    if not is_complete(path):
        raise RunStoreError(f"the run at {path} is incomplete (training was interrupted): train it again")
    try:
        vectors = ServingVectors(**{n: np.load(path / "vectors" / f"{n}.npy", allow_pickle=False, mmap_mode="r")
                                    for n in VECTOR_NAMES})
        return Run(
            path=path,
            config=json.loads((path / "config.json").read_text()),
            fingerprint=json.loads((path / "fingerprint.json").read_text()),
            metrics=json.loads((path / "metrics.json").read_text()),
            history=json.loads((path / "history.json").read_text()),
            vectors=vectors,
            user_ids=pd.read_parquet(path / "users.parquet")["user_id"].to_numpy(dtype=object),
            items=pd.read_parquet(path / "items.parquet"),
            events=pd.read_parquet(path / "events.parquet"),
        )
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        raise RunStoreError(f"the run at {path} cannot be read ({e}); train it again") from e


class RunStore:
    """The store folder: runs keyed by `run_key`, and what the studio keeps beside them.

    This class is the one place that knows the layout; everyone else asks it for paths:

        <root>/<run_id>/                          a run (`path_for`; only complete runs are listed or loaded)
        <root>/evaluations/eval-<run_id>-k<k>.json an evaluation report (`evaluation_path`)
        <root>/projections/<run_id>/              cached 2-D projections of a run (`projections_dir`),
                                                  beside the run so run folders stay immutable
        <root>/.tmp-*, <root>/.old-*              interrupted writes (`clean_incomplete`)

    Args:
        root: the store folder (default `$RECSYS_RUNS_DIR` or `./runs`).
    """

    def __init__(self, root=None):
        self.root = Path(root) if root is not None else default_runs_dir()

    def path_for(self, run_id: str) -> Path:
        """The folder of a run id; ids that are not plain hex hashes are refused (no path traversal)."""
        return self._inside(self.root, run_id)

    def evaluation_path(self, run_id: str, *, k: int) -> Path:
        """The evaluation report of the run `run_id` would be, at cutoff `k` (an int ≥ 1: it is part of the name)."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a whole number of at least 1, got {k!r}")
        return self._inside(self.root / EVALUATIONS, run_id).with_name(f"eval-{run_id}-k{k}.json")

    def projections_dir(self, run_id: str) -> Path:
        """Where projections of the run `run_id` are cached (created by whoever writes there)."""
        return self._inside(self.root / PROJECTIONS, run_id)

    @staticmethod
    def _inside(folder: Path, run_id: str) -> Path:
        if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):  # fullmatch: no trailing newline
            raise RunStoreError(f"invalid run id {run_id!r}: run ids are hexadecimal hashes")
        path = (folder / run_id).resolve()
        if path.parent != folder.resolve():
            raise RunStoreError(f"invalid run id {run_id!r}: it points outside the run store")
        return path

    def has(self, run_id: str) -> bool:
        return is_complete(self.path_for(run_id))

    def load(self, run_id: str) -> Run:
        return load_run(self.path_for(run_id))

    def list_runs(self) -> list[dict]:
        """Summaries of the complete runs, newest first."""
        out = []
        if not self.root.is_dir():
            return out
        for path in self.root.iterdir():
            if not _RUN_ID.fullmatch(path.name) or not path.is_dir() or not is_complete(path):
                continue  # hidden temporary folders, and names `load` would refuse (a folder copied in by hand)
            try:
                config = json.loads((path / "config.json").read_text())
                fp = json.loads((path / "fingerprint.json").read_text())
                metrics = json.loads((path / "metrics.json").read_text())
                done = json.loads((path / COMPLETE).read_text()).get("completed_at", "")
            except (OSError, json.JSONDecodeError):
                continue
            out.append({"run_id": path.name, "dataset": fp.get("dataset"), "fingerprint": fp.get("fingerprint"),
                        "completed_at": done, "val_ndcg@10": metrics.get("validation", {}).get("ndcg@10"),
                        "best_alpha": metrics.get("validation", {}).get("best_alpha"),
                        "train_seconds": metrics.get("train_seconds"), **{k: config.get(k) for k in
                        ("dim", "lstm_units", "cnn_filters", "kernel_size", "seq_len", "epochs", "seed")}})
        return sorted(out, key=lambda r: r["completed_at"], reverse=True)

    def clean_incomplete(self, *, older_than_s: float = 0.0) -> int:
        """Removes temporary folders left by interrupted writes; returns how many.

        `older_than_s` spares folders modified more recently (another process may be writing them).
        """
        import time

        n = 0
        if self.root.is_dir():
            now = time.time()
            for path in list(self.root.glob(".tmp-*")) + list(self.root.glob(".old-*")):
                try:
                    if now - path.stat().st_mtime < older_than_s:
                        continue
                except OSError:
                    continue
                shutil.rmtree(path, ignore_errors=True)
                n += 1
        return n
