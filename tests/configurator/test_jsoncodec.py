"""configurator.jsoncodec.loads reads every document exactly as json.loads does (values and types)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from configurator.jsoncodec import loads

EDGES = [
    '{"a": 1, "a": 2}',  # the last duplicate wins
    "18446744073709551615",  # the largest integer orjson keeps as an integer
    "18446744073709551616",  # beyond it orjson gives a float: read by json
    "[1.5e19, 2e19, -1e19, {\"a\": [3e30]}]",  # floats where a large integer would be: read again, the same
    "-9223372036854775809",
    '{"deal_size": 123456789012345678901234567890, "x": [1, 2]}',
    "1E400",  # infinity: refused by orjson
    "[NaN, Infinity, -Infinity]",
    '"\\ud800"',  # a lone surrogate
    '{"company": "华东精密制造有限公司", "tags": ["a", "b"], "ok": true, "none": null}',
    "-0",
    "1.5e308",
]


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types all the way down (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@pytest.mark.parametrize("document", EDGES)
def test_edge_documents_read_as_json_reads_them(document: str) -> None:
    assert same(loads(document), json.loads(document))
    assert same(loads(document.encode("utf-8", "surrogatepass")), json.loads(document.encode("utf-8", "surrogatepass"))) or "\\ud800" in document


def test_a_document_neither_reads_is_refused_by_both() -> None:
    with pytest.raises(ValueError):
        json.loads("{bad")
    with pytest.raises(ValueError):
        loads("{bad")


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, derandomize=True)
@given(values)
def test_any_document_reads_as_json_reads_it(value: Any) -> None:
    document = json.dumps(value, ensure_ascii=False)
    assert same(loads(document), json.loads(document))
    assert same(loads(document.encode("utf-8", "surrogatepass")), json.loads(document.encode("utf-8", "surrogatepass")))


def test_the_engines_read_json_columns_with_it(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """make_engine hands loads to SQLAlchemy, whose PostgreSQL dialect hands it to psycopg's json and jsonb loaders."""
    from sqlalchemy import JSON, literal_column, select, text, type_coerce

    from configurator import db

    read: list[Any] = []
    monkeypatch.setattr(db, "loads", lambda document: read.append(document) or loads(document))
    engine = db.make_engine(db_url)
    document = '{"a": 18446744073709551616, "b": ["华东"]}'
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                values = list(conn.execute(text(f"SELECT '{document}'::jsonb, '{document}'::json")).one())
            else:
                values = [conn.execute(select(type_coerce(literal_column(f"'{document}'"), JSON))).scalar_one()]
    finally:
        engine.dispose()
    assert values and all(same(value, json.loads(document)) for value in values)
    assert len(read) == len(values)
