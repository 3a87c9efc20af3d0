"""What watching costs a training job: a 1-epoch demo training with the Train page open vs closed.

Starts a plain `streamlit run app.py` (Streamlit's defaults, file watcher included, started from a
temporary folder as a new user would), opens it in headless Chromium, sets Epochs = 1 and presses
Train on the demo data with default settings. "open": the browser stays on the Train page, whose
progress panel reruns every second, until the run is complete. "closed": the browser goes to the
Home page right after the click. The two modes alternate (`--repeats` times each) with different
seeds, so no run is served from the store.

Prints, per run, the seconds from the click until the run folder is complete and the run's own
training seconds (metrics.json), then the ratio open / closed of the medians. Target (issue 10):
open ≤ 1.2 × closed.

    python bench/watch_overhead.py [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _complete_runs(store: Path) -> set[str]:
    return {p.parent.name for p in store.glob("*/COMPLETE")}


def one_training(page, url: str, store: Path, *, seed: int, watch: bool, timeout_s: float = 1800) -> dict:
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.get_by_role("heading", name="Recsys Studio")).to_be_visible(timeout=120_000)
    page.get_by_test_id("stSidebarNavLink").filter(has_text="Train").click()
    for label, value in (("Epochs", 1), ("Seed", seed)):
        box = page.get_by_label(label, exact=True)
        box.fill(str(value))
        box.press("Enter")
        expect(box).to_have_value(str(value))
    before = _complete_runs(store)
    page.get_by_role("button", name="Train", exact=True).click()
    start = time.monotonic()
    expect(page.get_by_test_id("stProgress").first).to_be_visible(timeout=60_000)
    if not watch:
        page.get_by_test_id("stSidebarNavLink").filter(has_text="Home").click()
    while not (_complete_runs(store) - before):
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"no run completed within {timeout_s} s")
        time.sleep(0.5)
    seconds = time.monotonic() - start
    run_id = sorted(_complete_runs(store) - before)[0]
    metrics = json.loads((store / run_id / "metrics.json").read_text())
    if watch:
        expect(page.get_by_text("Training finished")).to_be_visible(timeout=60_000)
    return {"mode": "open" if watch else "closed", "seed": seed, "click_to_complete_s": round(seconds, 1),
            "train_seconds": round(metrics["train_seconds"], 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="runs per mode (default 1)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "runs"
        port = _free_port()
        env = {**os.environ, "RECSYS_RUNS_DIR": str(store)}
        log = open(Path(folder) / "server.log", "wb")
        server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"),
                                   "--server.headless", "true", "--server.port", str(port),
                                   "--server.address", "127.0.0.1"], cwd=folder, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read().strip() == b"ok":
                        break
                except OSError:
                    time.sleep(0.2)
            results = []
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                seed = 100
                for _ in range(args.repeats):
                    for watch in (True, False):
                        seed += 1
                        result = one_training(page, url, store, seed=seed, watch=watch)
                        results.append(result)
                        print(json.dumps({**result, "load1": round(os.getloadavg()[0], 2)}), flush=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    for key in ("click_to_complete_s", "train_seconds"):
        opened = statistics.median(r[key] for r in results if r["mode"] == "open")
        closed = statistics.median(r[key] for r in results if r["mode"] == "closed")
        print(f"{key}: page open {opened:.1f} s, page closed {closed:.1f} s, ratio {opened / closed:.2f} "
              f"(target ≤ 1.20)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
