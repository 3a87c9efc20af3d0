"""Shared pytest fixtures for UI tests: the shared data folder, AppTest, a live Streamlit server and a
headless Chromium page (Debian's /usr/bin/chromium driven by Playwright; the recipe is `TESTING.md` in
the shared folder next to the repository, `../shared/TESTING.md`).

Heavy imports (streamlit, playwright) happen inside fixtures, so backend-only test runs stay fast.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1400, "height": 1000}
SERVER_START_TIMEOUT_S = 60


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """`<repo>/test-artifacts/` (git-ignored): server logs and screenshots for a person to inspect."""
    path = REPO_ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the read-only shared datasets (`../shared/data` next to the repo); skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATA} (the repo must sit next to shared/)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def planted_files(tmp_path_factory) -> Path:
    """A folder with the planted tiny data as `events.csv` and `items.csv` (see tests/planted.py)."""
    from planted import planted_frames

    folder = tmp_path_factory.mktemp("planted-files")
    interactions, items = planted_frames()
    interactions.to_csv(folder / "events.csv", index=False)
    items.to_csv(folder / "items.csv", index=False)
    return folder


@pytest.fixture
def app_test():
    """Factory for `AppTest` on the real `app.py`: `at = app_test(); at.run(); assert not at.exception`."""
    from streamlit.testing.v1 import AppTest

    def make(*, timeout: float = 30):
        return AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=timeout)

    return make


@pytest.fixture
def fresh_app(app_test, monkeypatch, tmp_path):
    """Factory for AppTests of the real app over a private run store, with Streamlit's caches (the job
    registry, loaded runs) cleared before and after: `at = fresh_app(); at.run()`."""
    import streamlit as st

    monkeypatch.setenv("RECSYS_RUNS_DIR", str(tmp_path / "runs"))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield lambda timeout=60: app_test(timeout=timeout)
    st.cache_resource.clear()
    st.cache_data.clear()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(path: Path, n_chars: int = 3000) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-n_chars:]


@contextlib.contextmanager
def running_streamlit(
    app: Path, *, log_path: Path, env: Mapping[str, str] | None = None, timeout_s: float = SERVER_START_TIMEOUT_S,
    as_a_person_starts_it: bool = False, cwd: Path | None = None,
) -> Iterator[str]:
    """Runs `streamlit run app` on a free port until the block exits; yields the base URL.

    Output goes to `log_path` (a file, not a pipe, so a chatty server never blocks). The server is
    stopped by its pid in all cases.

    Args:
        app: The Streamlit script.
        log_path: Where stdout and stderr go.
        env: Extra environment variables for the server (e.g. a private runs folder).
        timeout_s: How long to wait for `/_stcore/health` to answer "ok".
        as_a_person_starts_it: keep Streamlit's defaults (its file watcher included) instead of
            `--server.fileWatcherType none`; only the port, address and headless mode are set.
        cwd: the folder the server starts in (default: the app's folder).
    """
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
    ]  # fmt: skip
    if not as_a_person_starts_it:
        command += ["--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]
    server_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=cwd or app.parent, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=server_env
        )
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if process.poll() is not None:
                    pytest.fail(f"streamlit exited with code {process.returncode}; log:\n{_log_tail(log_path)}")
                try:
                    with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as response:
                        if response.read().strip() == b"ok":
                            break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"streamlit not healthy after {timeout_s:.0f} s; log:\n{_log_tail(log_path)}")
                time.sleep(0.2)
            yield base_url
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


@pytest.fixture(scope="session")
def streamlit_server(artifacts_dir) -> Iterator[str]:
    """Base URL (`http://127.0.0.1:<port>`) of `streamlit run app.py`, shared by the session's browser tests.
    Server output: `test-artifacts/streamlit-server.log`."""
    with running_streamlit(REPO_ROOT / "app.py", log_path=artifacts_dir / "streamlit-server.log") as base_url:
        yield base_url


@pytest.fixture(scope="session")
def _chromium():
    """One headless Chromium for the session (Debian's binary; `playwright install` is never needed)."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright (pip install playwright)")
    playwright = sync_api.sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        sync_api.expect.set_options(timeout=20_000)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Records each phase's report on the test item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def browser_page(_chromium, request, artifacts_dir):
    """A fresh Playwright page (own context, 1400×1000 viewport). On failure a full-page screenshot is
    saved as `test-artifacts/<test name>-failure.png`."""
    context = _chromium.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in request.node.name)
            with contextlib.suppress(Exception):
                page.screenshot(path=str(artifacts_dir / f"{name}-failure.png"), full_page=True, animations="disabled")
        context.close()
