"""The API's operations, declared once: the route, who may call it, its query and body schemas and
its response. The same declarations check every request and build ``/api/v1/openapi.json``, so
the document cannot drift from the code.

A handler takes a :class:`Call` (the database session, the caller, the validated query and body,
the clock) and the path parameters, and returns a JSON-able value (or a Flask response for
downloads). The boundary owns the transaction: it commits when the handler returns, rolls back
when it raises, and only then sends the jobs the handler queued.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, jsonify, request
from jsonschema import Draft202012Validator
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import RequestEntityTooLarge
from sqlalchemy.orm import Session

from configurator.api.errors import ApiError, error_response, fenpei_status, request_lang
from configurator.services.accounts import Principal
from rule_engine import Problem
from rule_engine.errors import FenpeiError

__all__ = ["COMPONENTS", "OPERATIONS", "Call", "Operation", "component", "openapi_document", "operation", "page_query"]

MAX_ID = 2**63 - 1
ANYONE = ("admin", "manager", "rep")
STAFF = ("admin", "manager")
ADMIN = ("admin",)

# Error statuses every operation may answer with (each documented, so clients can rely on them).
ERROR_STATUSES = {
    400: "The request is malformed (a query parameter of the wrong type, a body that is not JSON).",
    401: "Not logged in, or the API token is unknown or revoked.",
    403: "The caller may not do this (role, team, or another rep's lead).",
    404: "No such object (or none the caller may see).",
    409: "The request collides with the current state (changed meanwhile, already done).",
    413: "The request body is too large.",
    503: "The database could not be reached or stayed locked; nothing was changed, try again.",
    415: "The body is not application/json.",
    422: "The body or a value does not validate; one problem per field, each with its path.",
}

COMPONENTS: dict[str, dict[str, Any]] = {}
OPERATIONS: list[Operation] = []


def component(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Register a named response schema; returns a ``$ref`` to it."""
    COMPONENTS[name] = schema
    return {"$ref": f"#/components/schemas/{name}"}


@dataclass
class Call:
    """What a handler gets: the session, the caller, the validated query and body, the clock."""

    db: Session
    who: Principal | None
    lang: str
    query: dict[str, Any]
    body: Any
    now: dt.datetime
    jobs: list[int] = field(default_factory=list)

    @property
    def principal(self) -> Principal:
        assert self.who is not None
        return self.who


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # OpenAPI form: /leads/{lead_id}
    operation_id: str
    summary: str
    tag: str
    roles: tuple[str, ...] | None  # None: no login needed
    query: Mapping[str, dict[str, Any]]
    body: dict[str, Any] | None
    response: dict[str, Any] | None
    status: int
    produces: tuple[str, ...]
    path_params: Mapping[str, dict[str, Any]]
    description: str = ""
    # Built once when the operation is declared, not on every request.
    body_validator: Draft202012Validator | None = field(default=None, compare=False, repr=False)
    query_validators: Mapping[str, Draft202012Validator] = field(default_factory=dict, compare=False, repr=False)


def page_query(limit_default: int = 50, limit_max: int = 500) -> dict[str, dict[str, Any]]:
    """``limit`` and ``after`` (the last id of the previous page) for keyset pagination."""
    return {
        "limit": {"type": "integer", "minimum": 1, "maximum": limit_max, "default": limit_default, "description": f"Items per page (at most {limit_max})."},
        "after": {"type": "string", "maxLength": 64, "description": "The `next` value of the previous page."},
    }


_PARAM = re.compile(r"{(\w+)}")


def _flask_rule(path: str, params: Mapping[str, dict[str, Any]]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        kind = params.get(name, {}).get("type")
        return f"<int:{name}>" if kind == "integer" else f"<{name}>"

    return _PARAM.sub(sub, path)


def _query_validator(schema: Mapping[str, Any]) -> Draft202012Validator:
    return Draft202012Validator({k: v for k, v in schema.items() if k not in ("description", "default")})


def _coerce_query(spec: Mapping[str, dict[str, Any]], validators: Mapping[str, Draft202012Validator]) -> dict[str, Any]:
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for name in request.args:
        if name not in spec:
            problems.append(Problem.make("query.unknown", "unknown query parameter {n!r}", "未知的查询参数 {n!r}", ("query", name), n=name))
    for name, schema in spec.items():
        raw = request.args.get(name)
        if raw is None:
            if "default" in schema:
                values[name] = schema["default"]
            continue
        kind = schema.get("type", "string")
        value: Any = raw
        try:
            if kind == "integer":
                if not re.fullmatch(r"-?\d{1,18}", raw.strip()):
                    raise ValueError
                value = int(raw)
            elif kind == "boolean":
                if raw not in ("true", "false", "1", "0"):
                    raise ValueError
                value = raw in ("true", "1")
        except ValueError:
            problems.append(Problem.make("query.type", "{n} must be {k}", "{n} 须为 {k}", ("query", name), n=name, k=kind))
            continue
        for err in validators[name].iter_errors(value):
            problems.append(Problem.make("query.invalid", "{n}: {m}", "{n}:{m}", ("query", name), n=name, m=err.message))
            break
        else:
            values[name] = value
    if problems:
        raise ApiError(400, problems)
    return values


def _json_path_parts(parts: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(parts)


def _body(validator: Draft202012Validator) -> Any:
    if not request.is_json:
        raise ApiError.make(415, "http.media_type", "send the body as application/json", "请求体须为 application/json")
    raw = request.get_data()
    if request.max_content_length is not None and request.content_length is None and len(raw) >= request.max_content_length:
        # A body without Content-Length (chunked) is cut at the limit rather than refused: refuse it here.
        raise RequestEntityTooLarge()
    data = request.get_json(silent=True)
    if data is None and raw:
        raise ApiError.make(400, "http.json", "the body is not valid JSON", "请求体不是有效的 JSON")
    if data is None:
        raise ApiError.make(400, "http.empty", "the body is empty: send a JSON object", "请求体为空:请发送一个 JSON 对象")
    problems = []
    for err in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        path = _json_path_parts(err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = set((err.schema.get("properties") or {}))
            for extra in sorted(k for k in err.instance if k not in allowed):
                problems.append(Problem.make("body.extra", "{f} cannot be set here", "此处不能设置 {f}", (*path, extra), f=extra))
            continue
        if err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else ""
            problems.append(Problem.make("body.required", "required", "必填", (*path, missing)))
            continue
        problems.append(Problem.make(f"body.{err.validator}", "{m}", "{m}", path, m=err.message))
    if problems:
        raise ApiError(422, problems)
    return data


def operation(
    bp: Blueprint,
    method: str,
    path: str,
    *,
    summary: str,
    tag: str,
    roles: tuple[str, ...] | None = ANYONE,
    query: Mapping[str, dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
    status: int = 200,
    produces: tuple[str, ...] = ("application/json",),
    path_params: Mapping[str, dict[str, Any]] | None = None,
    description: str = "",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare an operation and register its route on ``bp``."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        params = dict(path_params or {})
        for name in _PARAM.findall(path):
            params.setdefault(name, {"type": "string", "maxLength": 64})
        for name, schema in params.items():
            if schema.get("type") == "integer":
                # An id the database can hold (SQLite cannot even bind a larger number).
                params[name] = {"minimum": 0, "maximum": MAX_ID, **schema}
        queries = dict(query or {})
        op = Operation(
            method, path, fn.__name__, summary, tag, roles, queries, body, response, status, produces, params, description,
            body_validator=Draft202012Validator(body) if body is not None else None,
            query_validators={name: _query_validator(schema) for name, schema in queries.items()},
        )
        OPERATIONS.append(op)

        @functools.wraps(fn)
        def view(**kwargs: Any) -> Any:
            return _run(op, fn, kwargs)

        bp.add_url_rule(_flask_rule(path, params), endpoint=fn.__name__, view_func=view, methods=[method])
        return fn

    return decorate


def _run(op: Operation, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    from configurator.api import auth
    from configurator.app import celery_of, workspace_of

    lang = request_lang()
    ws = workspace_of()
    session = ws.sessions()
    call = Call(session, None, lang, {}, None, dt.datetime.now(dt.UTC))
    try:
        if op.method not in ("GET", "HEAD", "OPTIONS") and session.get_bind().dialect.name == "sqlite":
            # Take SQLite's write lock at BEGIN: a transaction that reads, then writes, must not
            # find another writer committed in between (it would fail instead of waiting).
            session.connection(execution_options={"fenpei_write_lock": True})
        if op.roles is not None:
            call.who = auth.authenticate(session, call.now, unsafe=op.method not in ("GET", "HEAD", "OPTIONS"))
            if call.who.role not in op.roles:
                raise ApiError.make(403, "auth.role", "this needs the role {r}", "此操作需要角色 {r}", r=" or ".join(op.roles))
        for name, schema in op.path_params.items():
            value = kwargs.get(name)
            too_long = schema.get("type") == "string" and len(str(value or "")) > int(schema.get("maxLength", 64))
            out_of_range = isinstance(value, int) and not schema.get("minimum", 0) <= value <= schema.get("maximum", MAX_ID)
            if too_long or out_of_range:
                raise ApiError.make(404, "http.not_found", "no such resource", "资源不存在")
        call.query = _coerce_query(op.query, op.query_validators)
        call.body = _body(op.body_validator) if op.body_validator is not None else None
        result = fn(call, **kwargs)
        session.commit()
    except FenpeiError as exc:
        session.rollback()
        session.close()
        return error_response(fenpei_status(exc), exc.problems, lang)
    except (DBAPIError, PoolTimeout) as exc:
        session.rollback()
        session.close()
        orig = getattr(exc, "orig", None)
        detail = str(orig).strip().splitlines()[0] if orig is not None else type(exc).__name__
        problem = Problem.make("db.error", "database error: {d} (nothing was changed; try again)", "数据库错误:{d}(未做任何更改,请重试)", d=detail)
        return error_response(503, [problem], lang)
    except BaseException:
        session.rollback()
        session.close()
        raise
    session.close()
    if call.jobs:
        _send_jobs(celery_of(), call.jobs)
    if isinstance(result, Response):
        return result
    response = jsonify(result)
    response.status_code = op.status
    return response


def _send_jobs(app: Any, job_ids: Sequence[int]) -> None:
    for job_id in job_ids:
        try:
            app.send_job(job_id)
        except Exception:  # the job stays pending; a worker's recovery sends it again
            pass


def _schema_for_doc(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items()}


def openapi_document(server: str = "/api/v1") -> dict[str, Any]:
    """The OpenAPI 3.1 document of every declared operation."""
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        parameters: list[dict[str, Any]] = []
        for name, schema in op.path_params.items():
            parameters.append({"name": name, "in": "path", "required": True, "schema": _schema_for_doc(schema)})
        for name, schema in op.query.items():
            doc = {k: v for k, v in schema.items() if k != "description"}
            param = {"name": name, "in": "query", "required": False, "schema": doc}
            if "description" in schema:
                param["description"] = schema["description"]
            parameters.append(param)
        responses: dict[str, Any] = {}
        if op.produces == ("application/json",):
            content = {"application/json": {"schema": op.response or {}}}
        else:
            content = {media: {"schema": {"type": "string", "format": "binary"}} for media in op.produces}
        responses[str(op.status)] = {"description": "Success.", "content": content}
        for status, text in ERROR_STATUSES.items():
            if status == 401 and op.roles is None:
                text = "The credentials given are wrong, or the account is locked for a while."
            responses[str(status)] = {"description": text, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        entry: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "tags": [op.tag],
            "parameters": parameters,
            "responses": responses,
        }
        if op.description:
            entry["description"] = op.description
        if op.roles is None:
            entry["security"] = []
        elif set(op.roles) != set(ANYONE):
            entry["description"] = (entry.get("description", "") + f"\n\nRoles: {', '.join(op.roles)}.").strip()
        if op.body is not None:
            entry["requestBody"] = {"required": True, "content": {"application/json": {"schema": op.body}}}
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Fenpei API",
            "version": "1",
            "description": (
                "Leads, assignment, the public pool, reclaim, handovers, points and the audit trail of a Fenpei installation. "
                "Authenticate with `Authorization: Bearer <token>` (create a token with `fenpei users token` or `POST /api/v1/tokens`), "
                "or with the session cookie of `POST /api/v1/auth/login` plus its `X-CSRF-Token` header on every change. "
                "Messages follow `Accept-Language` (zh-CN or en)."
            ),
        },
        "servers": [{"url": server}],
        "security": [{"bearerAuth": []}, {"cookieAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "An API token (fp_…)."},
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "fenpei_session", "description": "The session of POST /auth/login; changes also need the X-CSRF-Token header."},
            },
            "schemas": dict(COMPONENTS),
        },
    }


component(
    "Error",
    {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "problems"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "problems": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["path", "code", "message"],
                            "properties": {"path": {"type": ["string", "null"]}, "code": {"type": "string"}, "message": {"type": "string"}, "line": {"type": "integer"}},
                        },
                    },
                },
            }
        },
    },
)
