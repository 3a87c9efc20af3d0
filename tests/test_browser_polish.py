"""Real-browser checks of settings that depend on how Streamlit is started (issue 10, points 5 and 7).

`streamlit run /path/to/app.py` from an empty folder, as the issue did, with environment settings
that contradict the app's (a developer toolbar, Streamlit's 200 MB default upload limit): no Deploy
button, the upload drop zone states the loader's 512 MiB limit, the page icon is served by the app
itself and the page makes no request outside the app's server.
"""

from __future__ import annotations

import pytest

from conftest import REPO_ROOT, running_streamlit


@pytest.fixture(scope="module")
def server_from_fresh_folder(tmp_path_factory, artifacts_dir):
    folder = tmp_path_factory.mktemp("fresh-folder")
    env = {"RECSYS_RUNS_DIR": str(folder / "runs"),
           "STREAMLIT_CLIENT_TOOLBAR_MODE": "developer", "STREAMLIT_SERVER_MAX_UPLOAD_SIZE": "200"}
    with running_streamlit(REPO_ROOT / "app.py", log_path=artifacts_dir / "streamlit-fresh-folder.log", env=env,
                           cwd=folder) as base:
        yield base


def test_started_from_another_folder_no_deploy_512_mib_limit_local_icon(server_from_fresh_folder, browser_page,
                                                                        artifacts_dir):
    from playwright.sync_api import expect

    page = browser_page
    outside = []
    page.on("request", lambda request: outside.append(request.url)
            if not request.url.startswith(server_from_fresh_folder) else None)
    page.goto(server_from_fresh_folder)
    expect(page.get_by_role("heading", name="Recsys Studio")).to_be_visible(timeout=60_000)
    page.get_by_test_id("stSidebarNavLink").filter(has_text="Data").click()
    zone = page.get_by_test_id("stFileUploaderDropzoneInstructions").first
    expect(zone).to_be_visible(timeout=60_000)
    text_of = ("() => { const s = document.querySelector(\"[data-testid='stFileUploaderDropzoneInstructions'] "
               "div > span:last-child\"); return s ? getComputedStyle(s, '::before').content : null; }")
    page.wait_for_function(f"({text_of})() !== 'none'", timeout=30_000)  # the page's style element has arrived
    assert page.evaluate(text_of) == '"Limit 512 MiB per file"'
    hidden = zone.evaluate("el => getComputedStyle(el.querySelector('div > span:last-child')).fontSize")
    assert hidden == "0px"  # Streamlit's own "1GB per file" (512 MB rounded up) is not shown
    zone.screenshot(path=str(artifacts_dir / "dropzone-fresh-folder.png"))
    expect(page.get_by_text("Deploy", exact=True)).to_have_count(0)
    icons = page.evaluate("Array.from(document.querySelectorAll('link[rel*=icon]')).map(l => l.href)")
    assert icons and all(href.startswith(server_from_fresh_folder) for href in icons)
    assert outside == []
