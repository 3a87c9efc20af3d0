"""The model is backend-agnostic Keras 3: it trains, saves and serves with `KERAS_BACKEND=jax` in a process
where TensorFlow cannot even be imported (as on the GPU machine, which has JAX but no TensorFlow), and a
run trained there loads and serves in the TensorFlow studio.

The JAX side runs in a child process, since Keras picks its backend once per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from planted import TINY

REPO = Path(__file__).resolve().parents[1]

BLOCK_TENSORFLOW = textwrap.dedent("""
    import importlib.abc, sys

    class _NoTensorFlow(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "tf_keras"):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked: the GPU machine has no TensorFlow)")
            return None

    sys.meta_path.insert(0, _NoTensorFlow())
""")

JAX_SCRIPT = textwrap.dedent("""
    import json, sys
    import keras
    import numpy as np
    from planted import TINY, planted_dataset
    from recsys.config import TrainConfig
    from recsys.serving import recommend
    from recsys.training import fit_hybrid, train_run

    try:
        import tensorflow  # noqa: F401
        tf_importable = True
    except ModuleNotFoundError:
        tf_importable = False
    dataset = planted_dataset()
    config = TrainConfig(**TINY)
    run = train_run(dataset, config, run_dir=sys.argv[1])  # its test report is evaluate's (one training, not two)
    result = run.metrics["evaluation"]
    run.load_model()  # safe-mode reload under JAX
    recs = recommend(run, k=5)
    mixed = fit_hybrid(dataset.events, dataset.items, n_users=dataset.n_users,
                       config=TrainConfig(**{**TINY, "epochs": 2, "max_full_softmax_items": 8, "num_negatives": 16,
                                             "in_batch_negatives": 64}), precision="mixed")
    print(json.dumps({
        "backend": keras.backend.backend(),
        "tf_importable": tf_importable,
        "tf_loaded": any(m.split(".")[0] == "tensorflow" for m in sys.modules),
        "model_hr": result["model"]["HR@10"],
        "popularity_hr": result["baselines"]["popularity"]["HR@10"],
        "recs": recs[["user", "item", "score"]].astype({"user": str, "item": str}).values.tolist(),
        "mixed_dtype": mixed.model.user_tower.rnn.compute_dtype,
        "mixed_loss": mixed.history[-1]["loss"],
        "mixed_sampled": mixed.model.num_sampled,
        "metrics_backend": run.metrics["backend"],
    }))
""")


def no_tensorflow_env(tmp: Path) -> dict:
    """Environment of a child process with the JAX backend, on the CPU, where `import tensorflow` fails."""
    pytest.importorskip("jax", reason="jax is in requirements.txt; install it to test the JAX backend")
    (tmp / "sitecustomize.py").write_text(BLOCK_TENSORFLOW)
    return {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
            "PYTHONPATH": os.pathsep.join([str(tmp), str(REPO), str(REPO / "tests")])}


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("jax")
    proc = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(tmp / "run")], env=no_tensorflow_env(tmp),
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), tmp / "run"


def test_trains_with_the_jax_backend_and_no_tensorflow(jax_run):
    out, _ = jax_run
    assert out["backend"] == "jax" and out["metrics_backend"] == "jax"
    assert out["tf_importable"] is False and out["tf_loaded"] is False


def test_jax_model_finds_the_planted_sequence(jax_run):
    out, _ = jax_run
    assert out["model_hr"] >= 0.6, out
    assert out["model_hr"] >= 2 * out["popularity_hr"], out


def test_mixed_precision_trains_under_jax(jax_run):
    out, _ = jax_run
    assert out["mixed_dtype"] == "float16"
    assert np.isfinite(out["mixed_loss"])
    assert out["mixed_sampled"] == 16  # the sampled softmax, with K = 64 of the batch's 256 target slots, under JAX


def test_run_trained_with_jax_serves_in_the_tensorflow_studio(jax_run):
    """The .keras file from JAX reloads in safe mode here and gives the vectors that run stored."""
    from recsys.features import last_sequences
    from recsys.serving import recommend
    from recsys.store import load_run
    from recsys.training import backend_name, compute_serving_vectors

    out, path = jax_run
    assert backend_name() == "tensorflow"
    run = load_run(path)
    vectors = compute_serving_vectors(run.load_model(),
                                      last_sequences(run.events, n_users=run.n_users, seq_len=TINY["seq_len"]))
    np.testing.assert_allclose(vectors.seq_user, run.vectors.seq_user, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(vectors.content_item, run.vectors.content_item, rtol=1e-4, atol=1e-5)
    recs = recommend(run, k=5)
    assert recs[["user", "item"]].astype(str).values.tolist() == [r[:2] for r in out["recs"]]
    np.testing.assert_allclose(recs["score"].to_numpy(), [r[2] for r in out["recs"]], rtol=1e-5)


def test_prepared_gpu_benchmark_command_runs_without_tensorflow(tmp_path):
    """bench/gpu_device.sh, the one command for a lent GPU machine, runs end to end (tiny sizes, CPU)."""
    env = {**no_tensorflow_env(tmp_path), "GPU_BENCH_SMALL": "1", "OUT": str(tmp_path / "out")}
    proc = subprocess.run(["bash", str(REPO / "bench" / "gpu_device.sh")], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    figures = json.loads((tmp_path / "out" / "gpu_small.json").read_text())
    assert figures["backend"] == "jax"
    assert [r["precision"] for r in figures["runs"]] == ["mixed", "float32"]
    assert all(r["steps"] > 0 and r["events_per_s"] > 0 for r in figures["runs"])
