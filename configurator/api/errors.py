"""Errors as JSON: one handler maps Fenpei's errors (and HTTP's) to a status and a body.

Every error body is ``{"error": {"code", "message", "problems": [{"path", "code", "message"}]}}``
with messages in the caller's language (``Accept-Language``: zh-CN or en). A validation error
has one problem per field, each with its JSON path (``$.fields.deal_size``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Response, jsonify, request
from werkzeug.exceptions import HTTPException

from rule_engine import Problem
from rule_engine.errors import FenpeiError, InputError, TemplateError

__all__ = ["ApiError", "error_response", "fenpei_status", "request_lang"]


class ApiError(FenpeiError):
    """A request refused by the API layer itself (401, 403, 404, 400…)."""

    def __init__(self, status: int, problems: Problem | Sequence[Problem]) -> None:
        super().__init__(problems)
        self.status = status

    @classmethod
    def make(cls, status: int, code: str, en: str, zh: str, path: Sequence[Any] = (), **params: Any) -> ApiError:
        return cls(status, Problem.make(code, en, zh, tuple(path), **params))


# Codes whose request names an object that does not exist (404) or collides with the current state (409).
_OBJECTS = {"lead", "team", "rep", "handover", "job", "token", "points", "webhook", "delivery", "user", "template", "http"}
_NOT_FOUND = {"unknown", "not_found", "unpublished", "version"}
_FORBIDDEN = {"handover.not_giver", "handover.not_receiver", "lead.not_yours", "followup.owner", "release.owner"}
_CONFLICT = {
    "assign.conflict", "followup.reclaimed", "handover.changed", "handover.moved", "handover.state", "lead.changed", "lead.duplicate",
    "move.conflict", "points.reversed", "pool.not_in_pool", "sweep.conflict", "team.exists", "user.exists", "user.rep_taken",
    "template.unchanged", "db.write_lock",
}


def fenpei_status(exc: FenpeiError) -> int:
    """The HTTP status for one of Fenpei's errors."""
    if isinstance(exc, ApiError):
        return exc.status
    from configurator.services.accounts import AuthError

    if isinstance(exc, AuthError):
        return 401
    code = exc.problems[0].code if exc.problems else ""
    kind, _, what = code.partition(".")
    if kind in _OBJECTS and what in _NOT_FOUND:
        return 404
    if code in _FORBIDDEN:
        return 403
    if code in _CONFLICT:
        return 409
    if isinstance(exc, (InputError, TemplateError)):
        return 422
    return 422


def request_lang() -> str:
    """``zh`` or ``en``, from the request's ``Accept-Language`` (English when it names neither)."""
    best = request.accept_languages.best_match(["en", "zh-CN", "zh"], default="en")
    return "zh" if best.startswith("zh") else "en"


def error_response(status: int, problems: Sequence[Problem], lang: str) -> Response:
    """The JSON error body for ``problems``."""
    first = problems[0] if problems else Problem.make("error", "error", "错误")
    body: dict[str, Any] = {
        "error": {
            "code": first.code,
            "message": first.format(lang) if first.path else first.message(lang),
            "problems": [
                {"path": p.json_path if p.path else None, "code": p.code, "message": p.message(lang), **({"line": p.line} if p.line is not None else {})}
                for p in problems
            ],
        }
    }
    response = jsonify(body)
    response.status_code = status
    return response


_HTTP_TEXT = {
    400: ("http.bad_request", "the request is malformed", "请求格式错误"),
    401: ("auth.required", "log in or send an API token (Authorization: Bearer …)", "请登录或提供 API 令牌(Authorization: Bearer …)"),
    403: ("auth.forbidden", "you may not do this", "无权执行此操作"),
    404: ("http.not_found", "no such resource", "资源不存在"),
    405: ("http.method", "this method is not allowed here", "此处不允许该请求方法"),
    406: ("http.not_acceptable", "the requested media type is not available", "无法提供所请求的媒体类型"),
    413: ("http.too_large", "the request body is too large (at most {n} bytes)", "请求体过大(最多 {n} 字节)"),
    415: ("http.media_type", "send the body as application/json", "请求体须为 application/json"),
}


def http_error(exc: HTTPException) -> Response:
    """An HTTP error (no route, wrong method, body too large…) as the JSON error body."""
    status = exc.code or 500
    code, en, zh = _HTTP_TEXT.get(status, ("http.error", "the request failed", "请求失败"))
    from flask import current_app

    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    response = error_response(status, [Problem.make(code, en, zh, n=limit)], request_lang())
    valid = getattr(exc, "valid_methods", None)
    if status == 405 and valid:
        response.headers["Allow"] = ", ".join(valid)
    return response
