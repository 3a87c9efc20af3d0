"""Runs the bench/ suite (or a chosen subset) one script at a time and prints a summary table.

Parts: load (bench/load.py, 5M-row CSV), train (bench/train_throughput.py: ML-100K, 1M, 10M),
scoring (bench/scoring.py), projection (bench/projection.py), page (bench/embedding_page.py: the
Embeddings page's PCA map through AppTest), quality (bench/quality.py ml-100k:
the default-config training time target). Each part runs as its own process with its normal
output shown; the table at the end collects the headline figures with their targets and the
1-minute load average (the machine may be shared, so read figures next to it). Nothing is asserted.

    python bench/run_all.py                  # everything (~15-25 min on 2 cores)
    python bench/run_all.py scoring projection
    python bench/run_all.py --quick          # smaller sizes, no quality run (~5 min)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PARTS = ("load", "train", "scoring", "projection", "page", "quality")


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def machine() -> str:
    """CPU model, cores, RAM, Python and TF/Keras versions, for the README and the table header."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        ram = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, IndexError, ValueError):
        pass
    versions = subprocess.run(
        [sys.executable, "-c", "import tensorflow as t, keras as k, numpy as n; print(t.__version__, k.__version__, n.__version__)"],
        capture_output=True, text=True).stdout.split() or ["?", "?", "?"]
    return (f"{cpu}, {os.cpu_count()} cores{ram}; Python {platform.python_version()}, TensorFlow {versions[0]}, "
            f"Keras {versions[1]}, NumPy {versions[2]}; load average {os.getloadavg()[0]:.2f} at start")


def run(script: str, *args: str) -> tuple[int, str]:
    """Runs one bench script, echoing its output; returns (returncode, stdout)."""
    cmd = [sys.executable, str(BENCH / script), *args]
    print(f"\n$ {' '.join(cmd[1:])}", flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        print(line, end="", flush=True)
        lines.append(line)
    return proc.wait(), "".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("parts", nargs="*", help=f"subset of {', '.join(PARTS)} (default: all)")
    p.add_argument("--quick", action="store_true", help="smaller sizes; skips quality unless named")
    args = p.parse_args()
    unknown = [x for x in args.parts if x not in PARTS]
    if unknown:
        p.error(f"unknown part(s) {', '.join(unknown)}: choose from {', '.join(PARTS)}")
    parts = args.parts or [x for x in PARTS if not (args.quick and x == "quality")]
    quick = ["--quick"] if args.quick else []
    print(machine())
    rows: list[tuple[str, str, str, str]] = []  # figure, value, target, load1

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        if "load" in parts:
            n = 1_000_000 if args.quick else 5_000_000
            _, text = run("load.py", "--rows", str(n))
            m = re.search(r"load_dataset \(full\)\s*:\s*([\d.]+) s\s+([\d.]+) M rows/s", text)
            raw = re.search(r"raw pyarrow.csv parse\s*:\s*([\d.]+) s\s+([\d.]+) M rows/s", text)
            la = load1()
            if m:
                rows.append((f"load_dataset {n / 1e6:.0f}M-row CSV", f"{float(m.group(2)) * 1e6:,.0f} rows/s ({m.group(1)} s)",
                             ">= 1M rows/s", la))
            if raw:
                rows.append(("  raw pyarrow.csv parse", f"{float(raw.group(2)) * 1e6:,.0f} rows/s", "", la))
        if "train" in parts:
            run("train_throughput.py", *quick, "--json", str(out / "train.json"))
            for r in json.loads((out / "train.json").read_text()) if (out / "train.json").is_file() else []:
                if "events_per_s" not in r:
                    rows.append((f"train {r['dataset']}", r.get("skipped") or "FAILED", "", ""))
                    continue
                scope = "1 epoch" if r["full_epoch"] else f"{r['steps_done']} of {r['steps_per_epoch']} steps"
                rows.append((f"train {r['dataset']} ({scope})",
                             f"{r['events_per_s']:,.0f} events/s, epoch ~{r['epoch_s_est']:,.0f} s, "
                             f"peak RSS {r['peak_rss_mib']:,.0f} MiB", "", r["loadavg_1m"]))
        if "scoring" in parts:
            run("scoring.py", *quick, "--json", str(out / "scoring.json"))
            if (out / "scoring.json").is_file():
                s = json.loads((out / "scoring.json").read_text())
                a = s.get("recommend_all")
                if a:
                    rows.append((f"recommend all {a['n_users']:,} users ({a['dataset']})",
                                 f"median {a['median_s']:.3f} s, max {a['max_s']:.3f} s", "< 2 s", a["loadavg_1m"]))
                r = s["rerank"]
                rows.append((f"α re-rank 1 user x {r['n_items']:,} items", f"median {r['median_ms']:.2f} ms, "
                             f"p95 {r['p95_ms']:.2f} ms", "< 20 ms", r["loadavg_1m"]))
        if "projection" in parts:
            run("projection.py", *quick, "--json", str(out / "projection.json"))
            for r in json.loads((out / "projection.json").read_text()) if (out / "projection.json").is_file() else []:
                n = f"{r['n'] // 1000}k"
                rows.append((f"PCA {n} x 64", f"{r['pca_s']:.3f} s (max {r['pca_max_s']:.3f}; 1 BLAS thread "
                             f"{r['pca_1thread_s']:.3f} s)", "< 2 s", r["pca_load1"]))
                rows.append((f"UMAP {n} cold (JIT compile)", f"{r['umap_cold_s']:.1f} s (CPU {r['umap_cold_cpu_s']:.1f}) "
                             f"+ import {r['umap_cold_import_s']:.1f} s", "", r["umap_cold_load1"]))
                rows.append((f"UMAP {n} warm (numba cache)", f"{r['umap_warm_s']:.1f} s (CPU {r['umap_warm_cpu_s']:.1f}) "
                             f"+ import {r['umap_warm_import_s']:.1f} s", "< 15 s" if r["n"] == 10_000 else "",
                             r["umap_warm_load1"]))
                rows.append((f"UMAP {n} projection cache hit", f"{r['cache_hit_s'] * 1e3:.1f} ms", "", r["umap_warm_load1"]))
                rows.append((f"UMAP {n} next map, same process", f"{r['umap_again_s']:.1f} s (CPU {r['umap_again_cpu_s']:.1f})",
                             "< 15 s" if r["n"] == 10_000 else "", r["umap_again_load1"]))
        if "page" in parts:
            run("embedding_page.py", "--items", *(["10000"] if args.quick else ["10000", "50000"]),
                "--json", str(out / "page.json"))
            for label, r in json.loads((out / "page.json").read_text()).items() if (out / "page.json").is_file() else []:
                rows.append((f"Embeddings page PCA map, {label}", f"first visit {r['first_visit_s']:.2f} s, "
                             f"rerun {r['rerun_s']:.2f} s", "< 2 s", r["load1"]))
        if "quality" in parts:
            t0 = time.perf_counter()
            run("quality.py", "ml-100k", "--json", str(out / "quality.json"))
            la = load1()
            if (out / "quality.json").is_file():
                q = next((r for r in json.loads((out / "quality.json").read_text())
                          if r.get("dataset") == "ml-100k" and "model" in r), None)  # one row per dataset
                if q:
                    rows.append(("ML-100K default-config training", f"{q['train_s']:.0f} s "
                                 f"(best epoch {q['best_epoch']}; whole bench "
                                 f"{time.perf_counter() - t0:.0f} s)", "<= 180 s", la))
                    ease = q["baselines"].get("ease", {}).get("NDCG@10")
                    rows.append(("  ML-100K NDCG@10 model / EASE", f"{q['model']:.4f} / {ease:.4f} = "
                                 f"{q['model'] / ease:.2f}x" if ease else f"{q['model']:.4f}",
                                 ">= 1.5x", la))

    width = max([len(r[0]) for r in rows] + [10])
    vwidth = max([len(r[1]) for r in rows] + [10])
    print(f"\n{'figure':<{width}}  {'value':<{vwidth}}  {'target':<13}load1")
    for figure, value, target, la in rows:
        print(f"{figure:<{width}}  {value:<{vwidth}}  {target:<13}{la}")


if __name__ == "__main__":
    main()
