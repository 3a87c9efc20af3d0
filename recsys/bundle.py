"""Run bundles: one zip that carries a stored run to another studio.

A bundle holds every file of a run folder (`recsys.store.RUN_FILES`: config, fingerprint, model,
vectors, id maps and item table, events, tokenizer and category vocabularies, history, metrics) and
`manifest.json` with the size and sha256 of each of them. `COMPLETE` is not carried: the importing
store writes its own, last, as for any run.

Importing treats the zip as hostile until proven otherwise. Before anything is written the zip's
entries are checked against the manifest (member count and sizes capped, no absolute or `..`
paths, no symlinks, no encrypted entries, no pickles, nothing extra or missing); then each member is
streamed into the store's temporary run folder while its sha256 is computed, each file is checked
for its own format (JSON parses, `.npy` is a float32 array without pickles, Parquet and `.keras`
are what they claim, the model opens in Keras safe mode), and only then is the folder renamed into
place (`recsys.store.write_run_files`). Every refusal is a `BundleError` (a `DataError`) with one
line saying what is wrong, and the store is left as it was.

    >>> path = export_bundle("runs/3f2a…", "run.zip")
    >>> run_dir, added = import_bundle("run.zip", store="other-runs")
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import stat
import uuid
import zipfile
from pathlib import Path

import numpy as np

from recsys.data import DataError
from recsys.store import RUN_FILES, RunStore, RunStoreError, is_complete, load_run, write_run_files

__all__ = ["BUNDLE_FORMAT", "BundleError", "DEFAULT_MAX_BUNDLE_BYTES", "DEFAULT_MAX_MEMBER_BYTES", "MANIFEST",
           "bundle_bytes", "export_bundle", "import_bundle"]

BUNDLE_FORMAT = "recsys-run-bundle"
BUNDLE_VERSION = 1
MANIFEST = "manifest.json"
MAX_MEMBERS = 64  # a run bundle holds 17; far more is a zip bomb of tiny entries, refused before reading any
DEFAULT_MAX_MEMBER_BYTES = 1 << 30  # 1 GiB uncompressed per member
DEFAULT_MAX_BUNDLE_BYTES = 2 << 30  # 2 GiB uncompressed in all
MAX_MANIFEST_BYTES = 1 << 20
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dill", ".cloudpickle", ".npz")
_KERAS_MEMBERS = {"config.json", "metadata.json", "model.weights.h5"}
_CHUNK = 1 << 20
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # entry times carry nothing; the manifest says when the bundle was made


class BundleError(DataError):
    """A run bundle that cannot be exported or is refused on import; the message says why, in one line."""


# ------------------------------------------------------------------ export
def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_bundle(run_dir: Path, target) -> None:
    try:
        run = load_run(run_dir)
    except RunStoreError as e:
        raise BundleError(f"cannot bundle {run_dir}: {e}") from e
    members = {}
    for name in RUN_FILES:
        path = run_dir / name
        if not path.is_file() or path.is_symlink():
            raise BundleError(f"cannot bundle {run_dir}: the run has no regular file {name}; train it again")
        members[name] = {"size": path.stat().st_size, "sha256": _sha256_file(path)}
    manifest = {"format": BUNDLE_FORMAT, "version": BUNDLE_VERSION, "run_id": run.run_id,
                "dataset": run.fingerprint.get("dataset"), "fingerprint": run.fingerprint.get("fingerprint"),
                "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(), "members": members}
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        info = zipfile.ZipInfo(MANIFEST, date_time=_ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = (stat.S_IFREG | 0o644) << 16
        zf.writestr(info, json.dumps(manifest, indent=2, sort_keys=True))
        for name in RUN_FILES:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            with open(run_dir / name, "rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                for chunk in iter(lambda: src.read(_CHUNK), b""):
                    dst.write(chunk)


def export_bundle(run_dir, out) -> Path:
    """Writes the complete run at `run_dir` as one zip at `out` (atomically: a temporary file, then rename).

    Raises BundleError when the run is missing or incomplete.
    """
    run_dir, out = Path(run_dir), Path(out)
    if out.exists() and out.is_dir():
        raise BundleError(f"cannot write the bundle to {out}: it is a folder; give a file name such as run.zip")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".tmp-{out.name}-{uuid.uuid4().hex[:8]}"
    try:
        _write_bundle(run_dir, tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def bundle_bytes(run_dir) -> bytes:
    """The bundle of the run at `run_dir` as bytes (for a download button)."""
    buffer = io.BytesIO()
    _write_bundle(Path(run_dir), buffer)
    return buffer.getvalue()


# ------------------------------------------------------------------ import: checks before any write
def _unsafe_name(name: str) -> bool:
    parts = name.split("/")
    return (not name or name.startswith("/") or "\\" in name or ":" in name or "\x00" in name
            or any(part in ("", ".", "..") for part in parts))


def _check_entries(zf: zipfile.ZipFile, *, max_member_bytes: int, max_bundle_bytes: int) -> dict:
    """Checks every zip entry and the manifest before anything is written; returns the manifest."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise BundleError(f"refused: the bundle has {len(infos)} members, more than the {MAX_MEMBERS} allowed "
                          f"(a run bundle holds {len(RUN_FILES) + 1})")
    names = set()
    for info in infos:
        name = info.filename
        if _unsafe_name(name):
            raise BundleError(f"refused: member {name!r} has an unsafe path (absolute, '..' or a drive); "
                              "a run bundle only holds plain relative names")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise BundleError(f"refused: member {name!r} is a symbolic link; a run bundle only holds regular files")
        if info.is_dir():
            raise BundleError(f"refused: member {name!r} is a folder entry; a run bundle only holds regular files")
        if info.flag_bits & 0x1:
            raise BundleError(f"refused: member {name!r} is encrypted")
        if name.lower().endswith(_PICKLE_SUFFIXES):
            raise BundleError(f"refused: member {name!r} is a pickle; runs never hold pickles and none is ever loaded")
        if name in names:
            raise BundleError(f"refused: member {name!r} appears twice in the bundle")
        names.add(name)
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise BundleError(f"refused: member {name!r} uses an unsupported compression (only stored or deflate)")
        if info.file_size > max_member_bytes:
            raise BundleError(f"refused: member {name!r} is {info.file_size:,} bytes uncompressed, over the "
                              f"{max_member_bytes:,}-byte limit per member")
    total = sum(info.file_size for info in infos)
    if total > max_bundle_bytes:
        raise BundleError(f"refused: the bundle is {total:,} bytes uncompressed, over the {max_bundle_bytes:,}-byte limit")
    if MANIFEST not in names:
        raise BundleError(f"refused: the bundle has no {MANIFEST}; export runs with `python -m recsys export-run`")
    info = zf.getinfo(MANIFEST)
    if info.file_size > MAX_MANIFEST_BYTES:
        raise BundleError(f"refused: {MANIFEST} is {info.file_size:,} bytes, over the {MAX_MANIFEST_BYTES:,}-byte limit")
    try:
        manifest = json.loads(zf.read(MANIFEST))
    except (ValueError, zipfile.BadZipFile) as e:
        raise BundleError(f"refused: {MANIFEST} is not valid JSON ({e})") from e
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"refused: {MANIFEST} is not a {BUNDLE_FORMAT} manifest")
    if manifest.get("version") != BUNDLE_VERSION:
        raise BundleError(f"refused: bundle format version {manifest.get('version')!r}; this studio reads version "
                          f"{BUNDLE_VERSION}")
    members = manifest.get("members")
    if not isinstance(members, dict):
        raise BundleError(f"refused: {MANIFEST} has no member list")
    expected = set(RUN_FILES)
    for name in sorted(set(members) - expected):
        raise BundleError(f"refused: the manifest lists an unexpected member {name!r}; a run bundle holds only the "
                          "run's own files")
    for name in RUN_FILES:
        if name not in members:
            raise BundleError(f"refused: the manifest does not list the run file {name!r}")
        if name not in names:
            raise BundleError(f"refused: member {name!r} is missing from the bundle")
        entry = members[name]
        if (not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str) or len(entry["sha256"]) != 64
                or not isinstance(entry.get("size"), int)):
            raise BundleError(f"refused: the manifest entry of {name!r} has no valid size and sha256")
        if entry["size"] != zf.getinfo(name).file_size:
            raise BundleError(f"refused: member {name!r} is {zf.getinfo(name).file_size:,} bytes but the manifest "
                              f"says {entry['size']:,}")
    for name in sorted(names - expected - {MANIFEST}):
        raise BundleError(f"refused: unexpected member {name!r} is not listed in the manifest; a run bundle holds "
                          "only the run's own files")
    return manifest


# ------------------------------------------------------------------ import: per-file checks after streaming
def _check_npy(path: Path, name: str) -> tuple:
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            shape, _fortran, dtype = _read_npy_header(f, version)
        except ValueError as e:
            raise BundleError(f"refused: member {name!r} is not a .npy array ({e})") from e
    if dtype.hasobject:
        raise BundleError(f"refused: member {name!r} holds Python objects (a pickle); vectors must be float32")
    if dtype != np.float32:
        raise BundleError(f"refused: member {name!r} holds {dtype} values; vectors must be float32")
    try:
        np.load(path, allow_pickle=False, mmap_mode="r")
    except ValueError as e:
        raise BundleError(f"refused: member {name!r} cannot be read as an array ({e})") from e
    return shape


def _read_npy_header(f, version):
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(f)
    raise ValueError(f"unsupported .npy version {version}")


def _check_member_format(path: Path, name: str, max_member_bytes: int) -> None:
    with open(path, "rb") as f:
        head = f.read(8)
    if name.endswith(".json"):
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            raise BundleError(f"refused: member {name!r} is not valid JSON ({str(e)[:120]})") from e
        expected = list if name == "history.json" else dict
        if not isinstance(value, expected):
            raise BundleError(f"refused: member {name!r} holds a JSON {type(value).__name__}, not a "
                              f"{'list' if expected is list else 'object'}")
    elif name.endswith(".parquet"):
        if not head.startswith(b"PAR1"):
            raise BundleError(f"refused: member {name!r} is not a Parquet file")
    elif name.endswith(".keras"):
        try:
            with zipfile.ZipFile(path) as inner:
                inner_names = set(inner.namelist())
                inner_bytes = sum(info.file_size for info in inner.infolist())
        except zipfile.BadZipFile as e:
            raise BundleError(f"refused: member {name!r} is not a Keras model file") from e
        if inner_bytes > max_member_bytes:
            raise BundleError(f"refused: the model file unpacks to {inner_bytes:,} bytes, over the "
                              f"{max_member_bytes:,}-byte limit per member")
        extra = sorted(inner_names - _KERAS_MEMBERS)
        if extra:
            raise BundleError(f"refused: the model file holds an unexpected entry {extra[0]!r} "
                              "(a Keras model file holds config.json, metadata.json and model.weights.h5)")
    elif name.endswith(".npy"):
        _check_npy(path, name)


def _check_run_consistency(folder: Path, manifest: dict) -> str:
    """Loads the extracted run as the store would and checks its tables agree; returns the run id."""
    import pandas as pd

    from recsys.config import TrainConfig
    from recsys.features import CategoryEncoder, TextVectorizer

    config = json.loads((folder / "config.json").read_text())
    run_id = config.get("run_id")
    if run_id != manifest.get("run_id"):
        raise BundleError(f"refused: the manifest names run {manifest.get('run_id')!r} but config.json holds "
                          f"{run_id!r}")
    for what, build in (("config.json", lambda: TrainConfig.from_dict(config)),
                        ("text_vectorizer.json", lambda: TextVectorizer.from_config(
                            json.loads((folder / "text_vectorizer.json").read_text()))),
                        ("category_encoder.json", lambda: CategoryEncoder.from_config(
                            json.loads((folder / "category_encoder.json").read_text())))):
        try:
            build()
        except (KeyError, TypeError, ValueError) as e:
            raise BundleError(f"refused: {what} does not hold valid settings ({type(e).__name__}: {str(e)[:120]})") from e
    try:
        users = pd.read_parquet(folder / "users.parquet")
        items = pd.read_parquet(folder / "items.parquet")
        events = pd.read_parquet(folder / "events.parquet")
    except Exception as e:  # noqa: BLE001 - any parse failure of a hostile file is one refusal
        raise BundleError(f"refused: a table of the bundle cannot be read ({str(e).splitlines()[0] if str(e) else e})") from e
    for table, frame, columns in (("users.parquet", users, {"user_id"}),
                                  ("items.parquet", items, {"item_id", "title", "text", "categories", "n_events"}),
                                  ("events.parquet", events, {"user", "item", "timestamp"})):
        missing = columns - set(frame.columns)
        if missing:
            raise BundleError(f"refused: {table} has no column {sorted(missing)[0]!r}")
    n_users, n_items = len(users), len(items)
    for column, bound in (("user", n_users), ("item", n_items)):
        values = events[column]
        if not pd.api.types.is_integer_dtype(values) or (len(values) and (values.min() < 0 or values.max() >= bound)):
            raise BundleError(f"refused: events.parquet column {column!r} must hold indices 0..{bound - 1}")
    shapes = {name: np.load(folder / name, allow_pickle=False, mmap_mode="r").shape
              for name in RUN_FILES if name.endswith(".npy")}
    rows = {"cf_user": n_users, "seq_user": n_users, "cf_item": n_items, "content_item": n_items,
            "cf_bias": n_items, "content_bias": n_items}
    for vector, n in rows.items():
        shape = shapes[f"vectors/{vector}.npy"]
        if not shape or shape[0] != n:
            raise BundleError(f"refused: vectors/{vector}.npy has shape {shape}, expected {n} rows")
    for vector in ("cf_user", "cf_item", "seq_user", "content_item"):
        expected = (rows[vector], shapes["vectors/cf_item.npy"][-1])
        if shapes[f"vectors/{vector}.npy"] != expected:
            raise BundleError(f"refused: vectors/{vector}.npy has shape {shapes[f'vectors/{vector}.npy']}, expected {expected}")
    for vector in ("cf_bias", "content_bias"):
        if shapes[f"vectors/{vector}.npy"] != (n_items,):
            raise BundleError(f"refused: vectors/{vector}.npy has shape {shapes[f'vectors/{vector}.npy']}, "
                              f"expected ({n_items},)")
    return run_id


def _verify_member(zf: zipfile.ZipFile, name: str, entry: dict, max_member_bytes: int) -> None:
    """Streams one member without writing it and checks its size and sha256."""
    _extract_member(zf, name, None, entry, max_member_bytes)


def _extract_member(zf: zipfile.ZipFile, name: str, dest: Path | None, entry: dict, max_member_bytes: int) -> None:
    """Streams one member into `dest` (a new file; None = nowhere), checking its size and sha256."""
    if dest is not None:
        dest.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    try:
        with zf.open(name) as src, (open(dest, "xb") if dest is not None else io.BytesIO()) as out:
            for chunk in iter(lambda: src.read(_CHUNK), b""):
                size += len(chunk)
                if size > max_member_bytes or size > entry["size"]:
                    raise BundleError(f"refused: member {name!r} is larger than its declared size")
                digest.update(chunk)
                if dest is not None:
                    out.write(chunk)
    except (zipfile.BadZipFile, EOFError) as e:
        raise BundleError(f"refused: member {name!r} is damaged ({e})") from e
    except Exception as e:  # zlib.error and friends from a corrupt deflate stream
        if isinstance(e, (BundleError, OSError)):
            raise
        raise BundleError(f"refused: member {name!r} is damaged ({type(e).__name__}: {e})") from e
    if digest.hexdigest() != entry["sha256"]:
        raise BundleError(f"refused: member {name!r} does not match its sha256 in the manifest (the bundle is "
                          "corrupted or was changed)")


def import_bundle(source, *, store=None, max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES,
                  max_bundle_bytes: int = DEFAULT_MAX_BUNDLE_BYTES) -> tuple[Path, bool]:
    """Installs a bundle as a complete run in `store` (a folder or RunStore; default the studio's).

    Args:
        source: a path to the zip, or a binary file object (an upload).
        max_member_bytes, max_bundle_bytes: caps on the uncompressed size of one member and of all.

    Returns:
        (the run folder, True if it was added; False if the store already held that complete run,
        which is then left as it was).

    Raises:
        BundleError: the bundle is refused (the message says why); the store is unchanged.
        RunStoreError: the run could not be written (disk full, permission …).
    """
    store = store if isinstance(store, RunStore) else RunStore(store)
    label = str(source) if isinstance(source, (str, os.PathLike)) else getattr(source, "name", "the upload")
    if isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
        raise BundleError(f"no bundle at {source}: give the path of a zip written by `python -m recsys export-run`")
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise BundleError(f"refused: {label} is not a zip file ({e})") from e
    with zf:
        manifest = _check_entries(zf, max_member_bytes=max_member_bytes, max_bundle_bytes=max_bundle_bytes)
        run_id = manifest.get("run_id")
        try:
            path = store.path_for(run_id)
        except RunStoreError as e:
            raise BundleError(f"refused: the manifest's run id is not valid ({e})") from e
        if is_complete(path):  # still refuse a damaged bundle, though nothing would be written
            for name in RUN_FILES:
                _verify_member(zf, name, manifest["members"][name], max_member_bytes)
            return path, False

        def write_files(tmp: Path) -> None:
            for name in RUN_FILES:
                _extract_member(zf, name, tmp / name, manifest["members"][name], max_member_bytes)
                _check_member_format(tmp / name, name, max_member_bytes)
            _check_run_consistency(tmp, manifest)
            _check_model_loads(tmp)

        write_run_files(path, key=run_id, write_files=write_files)
    return path, True


def _check_model_loads(folder: Path) -> None:
    """The model must open in Keras safe mode (no Lambda layers, no arbitrary classes)."""
    from recsys.models import load_hybrid  # here, not at the top: reading a manifest needs no Keras

    try:
        load_hybrid(folder / "model.keras")
    except Exception as e:  # noqa: BLE001 - whatever Keras refuses, the bundle is refused
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise BundleError(f"refused: the model does not load in Keras safe mode ({first[:200]})") from e
