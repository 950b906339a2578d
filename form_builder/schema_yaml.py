"""A template document written back as YAML, for the builder's YAML view.

The form edits the document as data; this writes it as readable YAML that the engine's loader
reads back to the same data (YAML 1.2: strings that YAML 1.1 tools would read as booleans, such
as the key ``on``, are quoted). Short mappings and lists of plain values are written on one line
(``title: {zh: 行业, en: Industry}``), long texts as blocks. Comments of a typed document are not
kept: the data has none.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["document_yaml"]

_FLOW_WIDTH = 90


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float)) or (isinstance(value, str) and "\n" not in value)


def _flat_length(items: list[Any]) -> int:
    return sum(len(str(x)) + 2 for x in items)


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # the same value twice is written twice, never as an anchor and alias

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # list items indented under their key


def _mapping(dumper: _Dumper, data: dict[str, Any]) -> yaml.Node:
    flow = bool(data) and len(data) <= 4 and all(_scalar(v) for v in data.values()) and _flat_length([*data, *data.values()]) <= _FLOW_WIDTH
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=flow)


def _sequence(dumper: _Dumper, data: list[Any]) -> yaml.Node:
    flow = all(_scalar(v) for v in data) and _flat_length(data) <= _FLOW_WIDTH
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _string(dumper: _Dumper, data: str) -> yaml.Node:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_str(data)


_Dumper.add_representer(dict, _mapping)
_Dumper.add_representer(list, _sequence)
_Dumper.add_representer(str, _string)


def document_yaml(document: Any) -> str:
    """``document`` as YAML text."""
    return yaml.dump(document, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=110, default_flow_style=False)
