"""Value types that conditions are checked against.

A template's fields map to a few base kinds; enum and tags fields also carry their options so
that ``industry == "medcal"`` is caught with a suggestion when the template is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "ANY",
    "BOOLEAN",
    "DATE",
    "DATETIME",
    "KINDS",
    "LIST_ANY",
    "LIST_NUMBER",
    "LIST_STRING",
    "NUMBER",
    "STRING",
    "ValueType",
    "field_value_type",
]

# Base kinds. "list" types carry the kind of their items.
KINDS = ("string", "number", "boolean", "date", "datetime", "list", "any")


@dataclass(frozen=True)
class ValueType:
    """The static type of a name, literal or expression."""

    kind: str
    item: str | None = None  # for lists: kind of the items ("any" for an empty literal)
    options: frozenset[str] | None = None  # enum/tags: the allowed option values
    integer: bool = field(default=False, compare=False)  # an integer field: only whole numbers occur

    def __str__(self) -> str:
        if self.kind == "list":
            return f"list of {self.item}"
        if self.options is not None:
            return "enum"
        return self.kind

    @property
    def is_list(self) -> bool:
        return self.kind == "list"

    def item_type(self) -> ValueType:
        """For a list type: the type of one item (with the options, for tags)."""
        return ValueType(self.item or "any", options=self.options)

    def plain(self) -> ValueType:
        """The same type without options."""
        return ValueType(self.kind, self.item)


STRING = ValueType("string")
NUMBER = ValueType("number")
BOOLEAN = ValueType("boolean")
DATE = ValueType("date")
DATETIME = ValueType("datetime")
ANY = ValueType("any")
LIST_STRING = ValueType("list", "string")
LIST_NUMBER = ValueType("list", "number")
LIST_ANY = ValueType("list", "any")

_FIELD_KINDS = {
    "string": "string",
    "text": "string",
    "email": "string",
    "phone": "string",
    "url": "string",
    "integer": "number",
    "number": "number",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
    "enum": "string",
}


def field_value_type(field_type: str, options: frozenset[str] | None = None) -> ValueType:
    """The value type of a template field of ``field_type`` (``tags`` is a list of strings)."""
    if field_type == "tags":
        return ValueType("list", "string", options)
    if field_type == "enum":
        return ValueType("string", options=options)
    if field_type == "integer":
        return ValueType("number", integer=True)
    return ValueType(_FIELD_KINDS[field_type])
