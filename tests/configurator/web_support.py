"""Logging a browser-like test client into the web UI, and reading what the pages need back."""

from __future__ import annotations

import re
from typing import Any

PASSWORDS = {
    "admin": "admin-password-1", "mgr_east": "manager-password-1", "mgr_west": "manager-password-2",
    "rep_a": "rep-a-password-1", "rep_b": "rep-b-password-1",
}


def login(client: Any, username: str, lang: str = "en") -> None:
    """Log ``client`` in as ``username`` (a user of api_support's world) with the page language ``lang``."""
    client.set_cookie("fenpei_lang", lang)
    response = client.post("/login", data={"username": username, "password": PASSWORDS[username]})
    assert response.status_code == 302, response.get_data(as_text=True)


def csrf(client: Any, path: str = "/") -> str:
    """The session's CSRF token, from a page's ``<meta name="csrf-token">``."""
    html = client.get(path, follow_redirects=True).get_data(as_text=True)
    m = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert m, html[:500]
    return m.group(1)


def field_block(html: str, name: str) -> str:
    """The wrapper (div or fieldset) of one generated form field."""
    m = re.search(rf'<(div|fieldset) class="field[^"]*"[^>]*data-field="{name}".*?</\1>', html, re.S)
    assert m, f"no field {name}"
    return m.group(0)
