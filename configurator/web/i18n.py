"""The web UI's language: zh-CN or en, from the ``fenpei_lang`` cookie (set by the switch in the
header), else the browser's ``Accept-Language``. Texts live next to the pages that use them as
``t("English", "中文")``; there is no separate catalogue to fall out of step."""

from __future__ import annotations

from flask import g, request

__all__ = ["LANG_COOKIE", "current_lang", "t"]

LANG_COOKIE = "fenpei_lang"


def current_lang() -> str:
    """``zh`` or ``en`` for this request."""
    cached = getattr(g, "fenpei_lang", None)
    if cached:
        return str(cached)
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen not in ("zh", "en"):
        best = request.accept_languages.best_match(["en", "zh-CN", "zh"], default="en")
        chosen = "zh" if best.startswith("zh") else "en"
    g.fenpei_lang = chosen
    return chosen


def t(en: str, zh: str) -> str:
    """The text in the request's language."""
    return zh if current_lang() == "zh" else en
