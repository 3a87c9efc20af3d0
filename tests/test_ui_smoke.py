"""Smoke tests of the app shell and of the UI test fixtures (AppTest, live server, headless Chromium)."""

import urllib.request

import pytest


def test_app_routes_to_home(app_test):
    at = app_test()
    at.run()
    assert not at.exception
    assert at.title[0].value == "Recsys Studio"


@pytest.mark.slow
@pytest.mark.browser
def test_browser_shows_home_page(streamlit_server, browser_page, artifacts_dir):
    from playwright.sync_api import expect

    with urllib.request.urlopen(f"{streamlit_server}/_stcore/health", timeout=5) as response:
        assert response.read().strip() == b"ok"
    browser_page.goto(streamlit_server)
    expect(browser_page.get_by_role("heading", name="Recsys Studio")).to_be_visible()
    browser_page.screenshot(path=str(artifacts_dir / "smoke-home.png"), full_page=True, animations="disabled")
    assert not browser_page.get_by_test_id("stException").count()
