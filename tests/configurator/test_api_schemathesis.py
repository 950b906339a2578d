"""Schemathesis against the API's own OpenAPI document (``/api/v1/openapi.json``), in process.

Every operation gets valid and invalid requests (positive and negative generation), as an admin
and as a rep, through the Flask app. Each response must be no server error, refuse invalid data,
have a documented status and content type, and match the documented schema.

Bounded and deterministic for CI: a fixed number of examples per operation, derandomized,
no example database, on SQLite.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_support import NOW, World, world
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from configurator.api import PREFIX
from configurator.api.spec import openapi_document
from configurator.app import workspace_of
from configurator.db import session_scope
from configurator.models import User
from configurator.services import accounts
from configurator.services.accounts import AuthError

CHECKS = [not_a_server_error, negative_data_rejection, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 20

# The schema's operations each get EXAMPLES examples, the same ones on every run.
BOUNDED = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root: Path = tmp_path_factory.mktemp("api-schemathesis")
    w = world(f"sqlite:///{root / 'fenpei.sqlite3'}", root)
    try:
        yield w
    finally:
        w.close()


# The document the app serves at /api/v1/openapi.json is built from the same declarations
# (checked below); building it here needs no app, so pytest can collect one test per operation.
schema = schemathesis.openapi.from_dict(openapi_document(PREFIX))
# The bearer token is the test's; Schemathesis generates no credentials of its own.
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES, with_security_parameters=False)


def test_the_fuzzed_document_is_the_one_the_app_serves(api: World) -> None:
    response = api.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == openapi_document(PREFIX)


def _token(api: World, who: str) -> dict[str, str]:
    """``who``'s bearer header, with a new token when a generated call revoked theirs."""
    with session_scope(workspace_of(api.app).sessions) as s:
        try:
            accounts.user_for_token(s, api.tokens[who], NOW)
        except AuthError:
            user = s.scalar(select(User).where(User.username == who))
            assert user is not None and user.active
            api.tokens[who] = accounts.create_token(s, user, "schemathesis", NOW)[1]
    return {"Authorization": f"Bearer {api.tokens[who]}"}


# Names of objects that exist: a generated path or body names one of them, or keeps its own (404).
KNOWN = {"team": ["east", "west"], "lead_id": ["LA", "LB", "LP", "LW"], "rep": ["r01", "r02", "r03", "w01"], "name": ["b2b_software"]}


def _pick(kind: str, value: Any) -> Any:
    if not isinstance(value, str) or not value:
        return value
    choices = [*KNOWN[kind], value]
    return choices[zlib.crc32(value.encode()) % len(choices)]


def _aim(case: Any, api: World, who: str) -> None:
    """Send ``who``'s token and, in a valid case, point most names at existing objects, so the
    call gets past the lookups (an invalid case is left as generated: it must be refused as it is)."""
    case.headers = {**(case.headers or {}), **_token(api, who)}
    if case.meta is not None and not case.meta.generation.mode.is_positive:
        return
    params = case.path_parameters or {}
    for kind in KNOWN:
        if kind in params:
            params[kind] = _pick(kind, params[kind])
    if isinstance(case.body, dict):
        if isinstance(case.body.get("leads"), list):
            case.body["leads"] = [_pick("lead_id", v) for v in case.body["leads"]]
        if "to" in case.body:
            case.body["to"] = _pick("rep", case.body["to"])


@schema.parametrize()
@BOUNDED
def test_api_as_admin(case: Any, api: World) -> None:
    _aim(case, api, "admin")
    response = case.call(app=api.app)
    case.validate_response(response, checks=CHECKS)


@schema.parametrize()
@BOUNDED
def test_api_as_manager(case: Any, api: World) -> None:
    _aim(case, api, "mgr_east")
    response = case.call(app=api.app)
    case.validate_response(response, checks=CHECKS)


@schema.parametrize()
@BOUNDED
def test_api_as_rep(case: Any, api: World) -> None:
    _aim(case, api, "rep_a")
    response = case.call(app=api.app)
    case.validate_response(response, checks=CHECKS)


# ------------------------------------------------------------------------------------------------
# What Schemathesis found, pinned down
# ------------------------------------------------------------------------------------------------


def test_every_operation_documents_401() -> None:
    # POST /auth/login needs no login, yet answers 401 for a wrong password: it was undocumented.
    for path, operations in openapi_document(PREFIX)["paths"].items():
        for method, entry in operations.items():
            assert "401" in entry["responses"], (method, path)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/jobs/9223372036854775808"),
        ("GET", "/handovers/99999999999999999999"),
        ("POST", "/handovers/99999999999999999999/ack"),
        ("POST", "/points/9223372036854775808/reverse"),
        ("GET", "/templates/b2b_software/versions/9223372036854775808"),
        ("DELETE", "/tokens/9223372036854775808"),
    ],
)
def test_an_id_too_large_for_the_database_is_404(api: World, method: str, path: str) -> None:
    # SQLite cannot bind an integer over 2**63 - 1: these were server errors (OverflowError).
    response = api.call("admin", method, path, {"reason": "x"} if method == "POST" else None)
    assert response.status_code in (403, 404), response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] in ("http.not_found", "auth.role")
    # As the document says: ids are integers from 0 to 2**63 - 1.
    for operations in openapi_document(PREFIX)["paths"].values():
        for entry in operations.values():
            for parameter in entry["parameters"]:
                if parameter["in"] == "path" and parameter["schema"].get("type") == "integer":
                    assert parameter["schema"]["maximum"] == 2**63 - 1


def test_numbers_too_large_for_the_database_are_refused(api: World) -> None:
    response = api.call("admin", "GET", "/teams/east/audit?after=100000000000000000000")
    assert response.status_code == 400 and response.get_json()["error"]["problems"][0]["path"] == "$.query.after"
    response = api.call("admin", "POST", "/templates/b2b_software/rollback", {"version": 10**20})
    assert response.status_code == 422 and response.get_json()["error"]["problems"][0]["path"] == "$.version"
