"""Fixtures for the browser tests: one Chromium per module (Debian's, driven by Playwright),
the real product served once per module over a fresh installation (``browser_support``), and
pages that log in, keep a screenshot and fail the test on a console error.

Without Chromium the tests are skipped, except under CI (``CI`` set), where they fail: the issue
requires them, and ``.ci/run`` installs Chromium and a CJK font.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from browser_support import DESKTOP, PHONE, build, chromium_path, login, serve


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, launched once per module (closed before the rest of the suite runs)."""
    executable = chromium_path()
    if executable is None:
        why = "Chromium is not installed (apt-get install chromium, or set FENPEI_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests need Chromium in CI: {why}")
        pytest.skip(why)
    from playwright.sync_api import expect, sync_playwright

    # The machine may be busy (2 cores, other suites): wait longer than 5 s before failing.
    expect.set_options(timeout=15_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


class Site:
    """The product served for one module, and its logged-in browser sessions."""

    def __init__(self, url: str, chromium: Any) -> None:
        self.url = url
        self.chromium = chromium
        self._states: dict[str, Any] = {}
        self._contexts: list[Any] = []
        self.console_errors: list[str] = []
        self.allowed: list[str] = []

    def allow_console_error(self, text: str) -> None:
        """A console error the test causes on purpose (e.g. the browser's note of a 404 page)."""
        self.allowed.append(text)

    def _watch(self, page: Any) -> None:
        def on_console(message: Any) -> None:
            if message.type == "error":
                self.console_errors.append(f"{page.url}: console error: {message.text} ({message.location.get('url', '')})")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.console_errors.append(f"{page.url}: uncaught: {exc}"))

    def page(self, user: str | None = None, path: str | None = "/", *, lang: str = "en", phone: bool = False, javascript: bool = True) -> Any:
        """A new page (in its own browser context) with the ``fenpei_lang`` cookie, logged in as
        ``user``, open at ``path`` (None: blank); ``phone``: a 375x812 touch screen."""
        options: dict[str, Any] = {"viewport": PHONE if phone else DESKTOP, "locale": "zh-CN" if lang == "zh" else "en-US", "java_script_enabled": javascript}
        if phone:
            options.update(is_mobile=True, has_touch=True, device_scale_factor=2)
        if user is not None and user in self._states:
            options["storage_state"] = self._states[user]
        context = self.chromium.new_context(**options)
        context.set_default_timeout(15_000)
        self._contexts.append(context)
        context.add_cookies([{"name": "fenpei_lang", "value": lang, "url": self.url}])
        page = context.new_page()
        self._watch(page)
        if user is not None and user not in self._states:
            login(page, self.url, user)
            state = context.storage_state()
            state["cookies"] = [c for c in state["cookies"] if c["name"] != "fenpei_lang"]
            self._states[user] = state
        if path is not None:
            page.goto(self.url + path)
        return page

    def close(self) -> None:
        for context in self._contexts:
            context.close()
        self._contexts.clear()


@pytest.fixture(scope="module")
def site(chromium: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A fresh installation served by ``fenpei serve`` for this module's tests."""
    instance = tmp_path_factory.mktemp("fenpei-instance")
    build(instance)
    with serve(instance) as server:
        s = Site(server.url, chromium)
        try:
            yield s
        finally:
            s.close()


@pytest.fixture()
def web(site: Site) -> Iterator[Site]:
    """The module's site, checked after the test: no console error and no uncaught exception."""
    site.console_errors.clear()
    site.allowed.clear()
    yield site
    site.close()
    errors = [e for e in site.console_errors if not any(a in e for a in site.allowed)]
    site.console_errors.clear()
    site.allowed.clear()
    assert not errors, "\n".join(errors)

