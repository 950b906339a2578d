"""docs/api.md cannot drift from the API: its endpoint table is the one the code declares, and
every path of the OpenAPI document is in it."""

from __future__ import annotations

from configurator.api.reference import DOC, END, START, endpoint_table, rewrite
from configurator.api.spec import openapi_document


def test_the_endpoint_table_in_docs_is_the_declared_one() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert START in text and END in text
    assert rewrite(text) == text, "docs/api.md is out of date: run `python -m configurator.api.reference --write`"


def test_every_openapi_operation_is_documented() -> None:
    table = endpoint_table()
    doc = openapi_document()
    for path, methods in doc["paths"].items():
        for method in methods:
            assert f"`{method.upper()} {path}`" in table


def test_every_operation_documents_its_errors_and_security() -> None:
    doc = openapi_document()
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            assert {"400", "403", "404", "422"} <= set(op["responses"]), (method, path)
            if op.get("security") != []:
                assert "401" in op["responses"], (method, path)
