"""Hardened loading of template documents: YAML or JSON text into plain Python data.

A template is untrusted input, so the loader refuses anything that is not plain data and keeps
every cost bounded (see :class:`Limits`). Every refusal is a :class:`~rule_engine.errors.Problem`
with a code, an English and a Chinese message, a path and the line where it happened; the loader
raises them together as one :class:`~rule_engine.errors.DocumentError`.

How it reads a document:

* JSON goes through the same YAML parser, so JSON lines are known too. Tabs between tokens of a
  document that starts with ``{`` or ``[`` are read as spaces (PyYAML does not accept them, JSON
  does). Bytes must be UTF-8; a UTF-8 byte order mark is allowed.
* The tree is built from PyYAML's event stream, not its (recursive) composer: depth, node count
  and alias expansion are counted as the events arrive and loading stops at the first limit.
  An alias is checked against the limits before its content is copied, so an alias bomb
  ("billion laughs") costs no more than its own text.
* Scalars follow the YAML 1.2 core schema, not YAML 1.1:

  - booleans are only ``true``/``false`` (also ``True``, ``TRUE``, ``False``, ``FALSE``);
    ``yes``, ``no``, ``on``, ``off``, ``NO`` and ``y`` stay strings (a region code ``NO`` stays
    ``"NO"``);
  - ``null``, ``Null``, ``NULL``, ``~`` and the empty value are ``None``;
  - integers are ``[-+]?[0-9]+``, ``0o[0-7]+`` and ``0x[0-9a-fA-F]+``; sexagesimal (``1:20``),
    binary (``0b101``) and underscores (``1_000_000``) are not numbers and stay strings;
  - floats are ``[-+]?(.[0-9]+|[0-9]+(.[0-9]*)?)([eE][-+]?[0-9]+)?``; ``.inf``, ``.nan`` and
    values too large for a float are refused ("not a finite number");
  - timestamps stay strings (fields carry their own types); quoted scalars are always strings.

* Tags (``!!python/object``, ``!!binary``, ``!!str``, ``!custom`` ...) are refused; only the
  non-specific ``!`` is accepted. Merge keys (``<<``) are refused because they hide duplicates.
  Mapping keys must be strings: ``1: x``, ``true: x``, ``null: x`` and ``[a]: x`` are refused
  (quote the key: ``"1": x``). A duplicate key is refused at its second occurrence.
* One document per file; its root must be a mapping.
* ``$ref`` (a mapping whose only key is ``$ref``) is a JSON Pointer into the same document
  (``#/fields/region``, RFC 6901 with ``~0``/``~1`` and percent escapes). It is replaced by a
  copy of its target after the tree is built. Anything else (``http:``, ``file:``,
  ``other.yaml#/x``) is refused and never opened or fetched. Reference cycles are refused and
  the expansion counts against :attr:`Limits.max_nodes` and :attr:`Limits.max_depth`.

Only :func:`load_document` touches the file system; :func:`parse_document` is pure.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, NoReturn
from urllib.parse import unquote

import yaml
from yaml import events

from rule_engine.errors import DocumentError, FenpeiError, PathPart, Problem

__all__ = ["Document", "Limits", "load_document", "parse_document"]

Path = tuple[PathPart, ...]
Position = tuple[int, int]

#: Loading stops collecting after this many problems (the file needs fixing either way).
MAX_PROBLEMS: Final = 100


@dataclass(frozen=True)
class Limits:
    """Bounds on the cost of loading one document."""

    max_bytes: int = 1_048_576  # 1 MiB
    max_depth: int = 64  # nesting of mappings/sequences
    max_nodes: int = 200_000  # total nodes (keys included) after alias and $ref expansion
    max_aliases: int = 100  # alias uses
    max_scalar_length: int = 100_000


@dataclass(frozen=True)
class Document:
    """A loaded document: plain data, where it came from, and where each value is written."""

    data: Any
    source: str
    # path -> (line, column), 1-based: the key's position for mapping entries, the item's for
    # sequence items, the root node's for (). Content copied by an alias or a $ref has no entries
    # of its own; locate() falls back to the alias or $ref.
    positions: Mapping[tuple[str | int, ...], tuple[int, int]]

    def locate(self, path: Sequence[str | int]) -> tuple[int, int] | None:
        """Position of ``path``, or of its nearest recorded ancestor."""
        key = tuple(path)
        while True:
            pos = self.positions.get(key)
            if pos is not None:
                return pos
            if not key:
                return None
            key = key[:-1]

    def located(self, problem: Problem) -> Problem:
        """``problem`` with this document's source and the line of its path (an existing line is kept)."""
        source = problem.source if problem.source is not None else self.source
        if problem.line is not None:
            return problem.at(source=source)
        pos = self.locate(problem.path)
        if pos is None:
            return problem.at(source=source)
        return problem.at(source=source, line=pos[0], column=pos[1])

    def located_error(self, error: FenpeiError) -> FenpeiError:
        """An error of the same type with every problem located in this document."""
        return type(error)([self.located(p) for p in error.problems])


# --------------------------------------------------------------------------------------------
# Public entry points


def parse_document(text: str | bytes, source: str = "<template>", *, limits: Limits = Limits()) -> Document:
    """Parse YAML or JSON text into a :class:`Document`; raise :class:`DocumentError` on any problem."""
    try:
        decoded = _decode(text, limits)
        builder = _Builder(limits)
        try:
            builder.run(decoded)
        except _Fatal as fatal:
            builder.problems.append(fatal.problem)
        problems = builder.problems
        data = builder.root
        positions = builder.positions
        if not problems and builder.saw_ref:
            data, problems = _resolve_refs(data, positions, limits)
    except _Fatal as fatal:
        problems = [fatal.problem]
    if problems:
        ordered = sorted(problems, key=lambda p: (p.line or 0, p.column or 0))
        raise DocumentError([p.at(source=source) for p in ordered])
    return Document(data=data, source=source, positions=MappingProxyType(positions))


def load_document(path: str | os.PathLike[str], *, limits: Limits = Limits()) -> Document:
    """Read and parse one template file; raise :class:`DocumentError` (never ``OSError``) on any problem."""
    source = os.fsdecode(path)
    try:
        info = os.stat(source)
    except FileNotFoundError:
        _fail_file(source, "file_missing", "file not found", "找不到文件")
    except OSError as exc:
        _fail_file(source, "file_unreadable", "cannot read the file: {reason}", "无法读取文件:{reason}", reason=_reason(exc))
    except ValueError:  # e.g. a NUL byte in the path
        _fail_file(source, "file_unreadable", "cannot read the file: invalid path", "无法读取文件:路径无效")
    if stat.S_ISDIR(info.st_mode):
        _fail_file(source, "file_unreadable", "this is a directory, not a file", "这是一个目录,不是文件")
    if not stat.S_ISREG(info.st_mode):
        # A FIFO or a device could block or never end.
        _fail_file(source, "file_unreadable", "this is not a regular file", "这不是普通文件")
    if info.st_size > limits.max_bytes:
        _fail_file(source, *_size_messages(limits), line=1)
    try:
        with open(source, "rb") as handle:
            raw = handle.read(limits.max_bytes + 1)
    except OSError as exc:
        _fail_file(source, "file_unreadable", "cannot read the file: {reason}", "无法读取文件:{reason}", reason=_reason(exc))
    return parse_document(raw, source, limits=limits)


def _fail_file(source: str, code: str, en: str, zh: str, *, line: int | None = None, **params: Any) -> NoReturn:
    # A problem with the file as a whole is reported on line 1, like every other problem: FILE:LINE: …
    raise DocumentError(Problem.make(code, en, zh, line=line or 1, **params).at(source=source))


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _size_messages(limits: Limits) -> tuple[str, str, str]:
    return (
        "size_limit",
        f"the document is larger than {limits.max_bytes} bytes",
        f"文档超过 {limits.max_bytes} 字节",
    )


# --------------------------------------------------------------------------------------------
# Bytes to text


class _Fatal(Exception):
    """Loading cannot go on; carries the problem that stopped it."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.en)
        self.problem = problem


_BOM: Final = b"\xef\xbb\xbf"


def _decode(text: str | bytes, limits: Limits) -> str:
    if isinstance(text, (bytearray, memoryview)):
        text = bytes(text)
    if isinstance(text, bytes):
        if len(text) > limits.max_bytes:
            raise _Fatal(Problem.make(*_size_messages(limits), line=1, column=1))
        raw = text[len(_BOM) :] if text.startswith(_BOM) else text
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            before = raw[: exc.start]
            line = before.count(b"\n") + 1
            column = exc.start - (before.rfind(b"\n") + 1) + 1
            raise _Fatal(
                Problem.make(
                    "encoding",
                    "the document is not valid UTF-8 (byte 0x{byte:02x})",
                    "文档不是有效的 UTF-8 编码(字节 0x{byte:02x})",
                    line=line,
                    column=column,
                    byte=raw[exc.start],
                )
            ) from None
    elif isinstance(text, str):
        # A character is at most 4 bytes of UTF-8; only measure when it could matter.
        if len(text) > limits.max_bytes or (
            len(text) * 4 > limits.max_bytes and len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes
        ):
            raise _Fatal(Problem.make(*_size_messages(limits), line=1, column=1))
        decoded = text[1:] if text.startswith("\ufeff") else text
    else:
        raise TypeError(f"parse_document() takes str or bytes, not {type(text).__name__}")
    return _detab_flow(decoded)


# A double- or single-quoted scalar starting a token, a comment, or a tab.
_FLOW_TOKENS: Final = re.compile(
    r"""(?<![^\s{\[,:])(?:"[^"\\]*(?:\\.[^"\\]*)*"?|'[^']*(?:''[^']*)*'?)|(?<!\S)#[^\n]*|\t""", re.S
)


def _detab_flow(text: str) -> str:
    """Tabs between the tokens of a JSON-style (flow) document, read as spaces.

    JSON allows tabs as whitespace, PyYAML does not. A tab becomes one space, so lines and
    columns stay the same. Tabs inside quoted strings and comments are kept.
    """
    if "\t" not in text or not text.lstrip(" \t\r\n").startswith(("{", "[")):
        return text
    return _FLOW_TOKENS.sub(lambda m: " " if m.group() == "\t" else m.group(), text)


# --------------------------------------------------------------------------------------------
# Scalars (YAML 1.2 core schema)

_NULLS: Final = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE: Final = frozenset({"true", "True", "TRUE"})
_FALSE: Final = frozenset({"false", "False", "FALSE"})
_INT_DEC: Final = re.compile(r"[-+]?[0-9]+")
_INT_OCT: Final = re.compile(r"0o[0-7]+")
_INT_HEX: Final = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT: Final = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INF_NAN: Final = re.compile(r"[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_YAML_TAG_PREFIX: Final = "tag:yaml.org,2002:"


class _Unresolved(Exception):
    """A plain scalar that looks like a number but is not an acceptable one."""

    def __init__(self, code: str, en: str, zh: str) -> None:
        super().__init__(en)
        self.code, self.en, self.zh = code, en, zh


def _resolve_plain(value: str) -> Any:
    """The YAML 1.2 core-schema value of a plain (unquoted, untagged) scalar."""
    if value in _NULLS:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    first = value[:1]
    if not first or first not in "0123456789+-.":
        return value
    try:
        if _INT_DEC.fullmatch(value):
            return int(value)
        if _INT_OCT.fullmatch(value):
            return int(value[2:], 8)
        if _INT_HEX.fullmatch(value):
            return int(value[2:], 16)
    except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
        raise _Unresolved(
            "number_range", "the number {text} has too many digits", "数字 {text} 的位数太多"
        ) from None
    if _FLOAT.fullmatch(value):
        number = float(value)
        if math.isinf(number):
            raise _Unresolved("not_finite", "{text} is not a finite number", "{text} 不是有限的数字")
        return number
    if _INF_NAN.fullmatch(value):
        raise _Unresolved("not_finite", "{text} is not a finite number", "{text} 不是有限的数字")
    return value


def _show(value: Any, limit: int = 60) -> str:
    """A short display form of user text for messages."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show_tag(tag: str) -> str:
    return "!!" + tag[len(_YAML_TAG_PREFIX) :] if tag.startswith(_YAML_TAG_PREFIX) else tag


# --------------------------------------------------------------------------------------------
# Events to tree


class _EventLoader(yaml.SafeLoader):
    """The pure-Python safe loader; only its scanner and parser (the event stream) are used."""


class _Frame:
    """An open mapping or sequence while its events arrive."""

    __slots__ = (
        "is_map", "value", "path", "anchor", "start_nodes", "height", "key", "want_key", "key_lines", "line", "column",
    )  # fmt: skip

    def __init__(self, is_map: bool, path: Path, anchor: str | None, start_nodes: int, line: int, column: int) -> None:
        self.is_map = is_map
        self.value: Any = {} if is_map else []
        self.path = path
        self.anchor = anchor
        self.start_nodes = start_nodes
        self.height = 1
        self.key: str | None = None  # the accepted key whose value comes next (None: drop the value)
        self.want_key = True
        self.key_lines: dict[str, int] = {}
        self.line = line
        self.column = column


class _Anchor:
    __slots__ = ("value", "size", "height", "done")

    def __init__(self) -> None:
        self.value: Any = None
        self.size = 1
        self.height = 0
        self.done = False


_NO_VALUE: Final = object()


class _Builder:
    """Builds plain data from the event stream, counting as it goes."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.problems: list[Problem] = []
        self.positions: dict[Path, Position] = {}
        self.root: Any = None
        self.saw_ref = False
        self.stack: list[_Frame] = []
        self.anchors: dict[str, _Anchor] = {}
        self.nodes = 0
        self.aliases = 0
        self.documents = 0

    # -- reporting

    def add(self, code: str, en: str, zh: str, path: Path, mark: Any, **params: Any) -> None:
        self.problems.append(Problem.make(code, en, zh, path, line=_line(mark), column=_column(mark), **params))
        self._check_count()

    def fatal(self, code: str, en: str, zh: str, path: Path, mark: Any, **params: Any) -> NoReturn:
        raise _Fatal(Problem.make(code, en, zh, path, line=_line(mark), column=_column(mark), **params))

    # -- driving

    def run(self, text: str) -> None:
        try:
            for event in self._events(text):
                self.handle(event)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            detail = exc.problem or exc.context or "malformed document"
            raise _Fatal(
                Problem.make(
                    "syntax",
                    "YAML syntax error: {detail}",
                    "YAML 语法错误:{detail}",
                    self.current_path(),
                    line=_line(mark),
                    column=_column(mark),
                    detail=detail,
                )
            ) from None
        except yaml.reader.ReaderError as exc:
            before = text[: exc.position]
            line = before.count("\n") + 1
            column = exc.position - (before.rfind("\n") + 1) + 1
            code_point = exc.character if isinstance(exc.character, int) else ord(exc.character)
            raise _Fatal(
                Problem.make(
                    "character",
                    "character U+{cp:04X} is not allowed in a document",
                    "文档中不允许出现字符 U+{cp:04X}",
                    line=line,
                    column=column,
                    cp=code_point,
                )
            ) from None
        except yaml.YAMLError as exc:  # any other parser complaint, still the document's fault
            raise _Fatal(
                Problem.make(
                    "syntax", "YAML syntax error: {detail}", "YAML 语法错误:{detail}", line=1, column=1, detail=str(exc)
                )
            ) from None

    @staticmethod
    def _events(text: str) -> Iterator[events.Event]:
        # yaml.parse() with our loader: a generator, so loading can stop at any limit.
        return yaml.parse(text, Loader=_EventLoader)

    def handle(self, event: events.Event) -> None:
        if isinstance(event, events.ScalarEvent):
            self.scalar(event)
        elif isinstance(event, (events.MappingStartEvent, events.SequenceStartEvent)):
            self.start(event)
        elif isinstance(event, (events.MappingEndEvent, events.SequenceEndEvent)):
            self.end()
        elif isinstance(event, events.AliasEvent):
            self.alias(event)
        elif isinstance(event, events.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                self.fatal(
                    "multiple_documents",
                    "only one document is allowed per file (found a second one)",
                    "每个文件只能包含一个文档(发现了第二个)",
                    (),
                    event.start_mark,
                )
        elif isinstance(event, events.StreamEndEvent):
            if self.documents == 0:
                self.fatal("empty_document", "the document is empty", "文档为空", (), None)

    def current_path(self) -> Path:
        """Path of the node that starts next."""
        if not self.stack:
            return ()
        top = self.stack[-1]
        if top.is_map:
            if top.want_key or top.key is None:
                return top.path
            return top.path + (top.key,)
        return top.path + (len(top.value),)

    # -- nodes

    def check_tag(self, event: events.NodeEvent, path: Path) -> None:
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!":
            self.add(
                "yaml_tag",
                "tags are not allowed (found {tag})",
                "不允许使用标签(发现 {tag})",
                path,
                event.start_mark,
                tag=_show(_show_tag(tag)),
            )

    def count(self, amount: int, path: Path, mark: Any) -> None:
        self.nodes += amount
        if self.nodes > self.limits.max_nodes:
            self.fatal(
                "node_limit",
                "the document has more than {limit} nodes (after expanding aliases)",
                "文档节点超过 {limit} 个(展开别名后)",
                path,
                mark,
                limit=self.limits.max_nodes,
            )

    def register_anchor(self, name: str | None, path: Path, mark: Any) -> _Anchor | None:
        if name is None:
            return None
        if name in self.anchors:
            self.add(
                "anchor_duplicate",
                "the anchor &{name} is defined twice",
                "锚点 &{name} 被重复定义",
                path,
                mark,
                name=_show(name),
            )
        anchor = _Anchor()
        self.anchors[name] = anchor
        return anchor

    def start(self, event: events.CollectionStartEvent) -> None:
        path = self.current_path()
        mark = event.start_mark
        is_map = isinstance(event, events.MappingStartEvent)
        if not self.stack:
            self.root_start(is_map, mark)
        self.check_tag(event, path)
        depth = len(self.stack) + 1
        if depth > self.limits.max_depth:
            self.fatal(
                "depth_limit",
                "the document is nested more than {limit} levels deep",
                "文档嵌套超过 {limit} 层",
                path,
                mark,
                limit=self.limits.max_depth,
            )
        self.count(1, path, mark)
        self.register_anchor(event.anchor, path, mark)
        self.stack.append(_Frame(is_map, path, event.anchor, self.nodes - 1, _line(mark), _column(mark)))

    def root_start(self, is_map: bool, mark: Any) -> None:
        self.positions[()] = (_line(mark), _column(mark))
        if not is_map:
            self.fatal(
                "root_type",
                "the document must be a mapping of keys to values at the top level",
                "文档顶层必须是键值映射",
                (),
                mark,
            )

    def end(self) -> None:
        frame = self.stack.pop()
        if frame.anchor is not None:
            anchor = self.anchors[frame.anchor]
            anchor.value = frame.value
            anchor.size = self.nodes - frame.start_nodes
            anchor.height = frame.height
            anchor.done = True
        self.deliver(frame.value, frame.height, frame.line, frame.column)

    def scalar(self, event: events.ScalarEvent) -> None:
        path = self.current_path()
        mark = event.start_mark
        text: str = event.value
        value: Any = text
        if not self.stack:
            if text == "" and event.style is None and event.tag is None:
                self.fatal("empty_document", "the document is empty", "文档为空", (), None)
            self.root_start(False, mark)
        is_key = self.stack[-1].is_map and self.stack[-1].want_key
        self.check_tag(event, path)
        self.count(1, path, mark)
        if len(text) > self.limits.max_scalar_length:
            self.add(
                "scalar_limit",
                "a value is longer than {limit} characters",
                "值的长度超过 {limit} 个字符",
                path,
                mark,
                limit=self.limits.max_scalar_length,
            )
        plain = event.style is None and event.tag is None
        if event.style == '"' and _SURROGATE.search(text):
            # JSON writes characters outside the BMP as two \u escapes; join them.
            try:
                value = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
            except UnicodeDecodeError:
                self.add(
                    "character",
                    "a string contains an unpaired surrogate escape (\\ud800-\\udfff)",
                    "字符串包含不成对的代理转义(\\ud800-\\udfff)",
                    path,
                    mark,
                )
                value = _SURROGATE.sub("\ufffd", text)
        elif plain:
            try:
                value = _resolve_plain(text)
            except _Unresolved as exc:
                if not is_key:
                    self.add(exc.code, exc.en, exc.zh, path, mark, text=_show(text))
                value = _NO_VALUE
        anchor = self.register_anchor(event.anchor, path, mark)
        if anchor is not None:
            anchor.value, anchor.done = (None if value is _NO_VALUE else value), True
        self.deliver(value, 0, _line(mark), _column(mark), raw=text if plain else None)

    def alias(self, event: events.AliasEvent) -> None:
        path = self.current_path()
        mark = event.start_mark
        name = event.anchor or ""
        if not self.stack:
            self.fatal(
                "root_type",
                "the document must be a mapping of keys to values at the top level",
                "文档顶层必须是键值映射",
                (),
                mark,
            )
        anchor = self.anchors.get(name)
        if anchor is None or not anchor.done:
            if anchor is None:
                self.add(
                    "alias_unknown",
                    "the alias *{name} has no anchor &{name} before it",
                    "别名 *{name} 之前没有定义锚点 &{name}",
                    path,
                    mark,
                    name=_show(name),
                )
            else:
                self.add(
                    "alias_recursive",
                    "the alias *{name} is inside its own anchor",
                    "别名 *{name} 位于它自己的锚点内部",
                    path,
                    mark,
                    name=_show(name),
                )
            self.count(1, path, mark)
            self.deliver(_NO_VALUE, 0, _line(mark), _column(mark))
            return
        self.aliases += 1
        if self.aliases > self.limits.max_aliases:
            self.fatal(
                "alias_limit",
                "the document uses aliases more than {limit} times",
                "文档使用别名超过 {limit} 次",
                path,
                mark,
                limit=self.limits.max_aliases,
            )
        # Checked before anything is copied: an expansion past the limits is never built.
        self.count(anchor.size, path, mark)
        if len(self.stack) + anchor.height > self.limits.max_depth:
            self.fatal(
                "depth_limit",
                "the document is nested more than {limit} levels deep",
                "文档嵌套超过 {limit} 层",
                path,
                mark,
                limit=self.limits.max_depth,
            )
        self.deliver(_copy_tree(anchor.value), anchor.height, _line(mark), _column(mark))

    def deliver(self, value: Any, height: int, line: int, column: int, raw: str | None = None) -> None:
        """Attach a finished node to its parent (or make it the root); ``raw`` is a plain scalar's text."""
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        if height + 1 > top.height:
            top.height = height + 1
        if not top.is_map:
            self.positions[top.path + (len(top.value),)] = (line, column)
            top.value.append(None if value is _NO_VALUE else value)
            return
        if not top.want_key:
            if top.key is not None:
                top.value[top.key] = None if value is _NO_VALUE else value
            top.want_key = True
            top.key = None
            return
        top.want_key = False
        top.key = self.accept_key(top, value, line, column, raw)

    def accept_key(self, top: _Frame, key: Any, line: int, column: int, raw: str | None) -> str | None:
        """The key if it is acceptable, else None (the value that follows is dropped)."""
        path = top.path
        problem: Problem | None = None
        if key is _NO_VALUE and raw is None:
            return None  # already reported (an alias without an anchor)
        if not isinstance(key, str):
            shown = raw if raw else _describe_key(key)
            problem = Problem.make(
                "key_type",
                "mapping keys must be strings (found {key}); put quotes around it",
                "映射的键必须是字符串(发现 {key}),请给它加上引号",
                path,
                line=line,
                column=column,
                key=_show(shown),
            )
        elif key == "<<":
            problem = Problem.make(
                "merge_key",
                "merge keys (<<) are not allowed; write the keys out",
                "不允许使用合并键(<<),请直接写出各个键",
                path,
                line=line,
                column=column,
            )
        elif key in top.key_lines:
            problem = Problem.make(
                "duplicate_key",
                "duplicate key '{key}' (first defined on line {first})",
                "重复的键 '{key}'(第 {first} 行已定义)",
                path + (key,),
                line=line,
                column=column,
                key=_show(key),
                first=top.key_lines[key],
            )
        if problem is not None:
            self.problems.append(problem)
            self._check_count()
            return None
        name: str = key
        top.key_lines[name] = line
        if name == "$ref":
            self.saw_ref = True
        self.positions[path + (name,)] = (line, column)
        return name

    def _check_count(self) -> None:
        # Past the cap, stop: the last problem becomes the one that ended loading.
        if len(self.problems) >= MAX_PROBLEMS:
            raise _Fatal(self.problems.pop())


def _line(mark: Any) -> int:
    """1-based line of a PyYAML mark (0-based; a missing mark is the start)."""
    return int(mark.line) + 1 if mark is not None else 1


def _column(mark: Any) -> int:
    return int(mark.column) + 1 if mark is not None else 1


def _describe_key(key: Any) -> str:
    if key is None or key is _NO_VALUE:
        return "an empty or null key"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, (int, float)):
        return repr(key)
    if isinstance(key, dict):
        return "a mapping"
    if isinstance(key, list):
        return "a list"
    return repr(key)


def _copy_tree(value: Any, resolve: Callable[[Any], Any] = lambda node: node) -> Any:
    """A deep copy of plain data without recursion; ``resolve`` maps each node before it is copied."""
    value = resolve(value)
    if not isinstance(value, (dict, list)):
        return value
    root: Any = {} if isinstance(value, dict) else []
    todo: list[tuple[Any, Any]] = [(value, root)]
    while todo:
        src, dst = todo.pop()
        items = src.items() if isinstance(src, dict) else enumerate(src)
        for key, child in items:
            child = resolve(child)
            if isinstance(child, (dict, list)):
                child_copy: Any = {} if isinstance(child, dict) else []
                todo.append((child, child_copy))
            else:
                child_copy = child
            if isinstance(dst, dict):
                dst[key] = child_copy
            else:
                dst.append(child_copy)
    return root


# --------------------------------------------------------------------------------------------
# $ref (local JSON Pointers)

_INDEX: Final = re.compile(r"0|[1-9][0-9]*")
_BAD_ESCAPE: Final = re.compile(r"~(?![01])")


@dataclass
class _Ref:
    node: dict[str, Any]
    path: Path
    text: str
    tokens: list[str]


class _RefResolver:
    """Finds, checks and expands every ``{"$ref": "#/..."}`` of one tree."""

    def __init__(self, data: Any, positions: dict[Path, Position], limits: Limits) -> None:
        self.data = data
        self.positions = positions
        self.limits = limits
        self.refs: dict[int, _Ref] = {}
        self.failed: set[int] = set()
        self.problems: list[Problem] = []
        self.targets: dict[int, Any] = {}  # id(ref node) -> the non-ref node it stands for

    def problem(self, code: str, en: str, zh: str, path: Path, **params: Any) -> Problem:
        pos = _locate(self.positions, path)
        return Problem.make(code, en, zh, path, line=pos[0], column=pos[1], **params)

    # -- find and check

    def find(self) -> None:
        todo: list[tuple[Path, Any]] = [((), self.data)]
        while todo:
            path, node = todo.pop()
            children: list[tuple[Path, Any]] = []
            if isinstance(node, dict):
                if "$ref" in node:
                    if len(node) > 1:
                        self.problems.append(
                            self.problem(
                                "ref_siblings",
                                "a mapping with $ref must have no other keys",
                                "含有 $ref 的映射不能有其他键",
                                path + ("$ref",),
                            )
                        )
                    else:
                        self.check(node, path)
                        continue
                children = [(path + (k,), v) for k, v in node.items() if k != "$ref"]
            elif isinstance(node, list):
                children = [(path + (i,), v) for i, v in enumerate(node)]
            todo.extend(reversed([c for c in children if isinstance(c[1], (dict, list))]))

    def check(self, node: dict[str, Any], path: Path) -> None:
        text = node["$ref"]
        where = path + ("$ref",)
        if not isinstance(text, str):
            self.problems.append(
                self.problem(
                    "ref_invalid",
                    "$ref must be a string like '#/fields/region'",
                    "$ref 必须是字符串,例如 '#/fields/region'",
                    where,
                )
            )
            return
        if text and not text.startswith("#"):
            self.problems.append(
                self.problem(
                    "ref_external",
                    "references outside the document are not allowed and never fetched ({ref})",
                    "不允许引用文档以外的内容,也不会去获取它({ref})",
                    where,
                    ref=_show(text),
                )
            )
            return
        fragment = unquote(text[1:])
        if not text or (fragment and not fragment.startswith("/")) or _BAD_ESCAPE.search(fragment):
            self.problems.append(
                self.problem(
                    "ref_invalid",
                    "{ref} is not a valid JSON Pointer (write it like '#/fields/region')",
                    "{ref} 不是有效的 JSON 指针(写法如 '#/fields/region')",
                    where,
                    ref=_show(text or "''"),
                )
            )
            return
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in fragment[1:].split("/")] if fragment else []
        self.refs[id(node)] = _Ref(node, path, text, tokens)

    # -- targets

    def walk(self, ref: _Ref) -> tuple[str, Any]:
        """("ok", node) | ("need", ref id) | ("failed", None) | ("missing", None)."""
        node = self.data
        for token in [*ref.tokens, None]:
            if isinstance(node, dict) and id(node) in self.refs:
                rid = id(node)
                if rid in self.targets:
                    node = self.targets[rid]
                elif rid in self.failed:
                    return "failed", None
                else:
                    return "need", rid
            if token is None:
                return "ok", node
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and _INDEX.fullmatch(token) and int(token) < len(node):
                node = node[int(token)]
            else:
                return "missing", None
        raise AssertionError("unreachable")  # pragma: no cover

    def resolve_targets(self) -> None:
        """Find the node each reference stands for; report missing targets and cycles."""
        for rid in self.refs:
            if rid in self.targets or rid in self.failed:
                continue
            chain, on_chain = [rid], {rid}  # refs waiting for the one after them
            while chain:
                ref = self.refs[chain[-1]]
                outcome, found = self.walk(ref)
                if outcome == "need":
                    if found in on_chain:
                        self.problems.append(self._cycle(ref))
                        self.failed.update(chain)
                        break
                    chain.append(found)
                    on_chain.add(found)
                    continue
                done = chain.pop()
                on_chain.discard(done)
                if outcome == "ok":
                    self.targets[done] = found
                    continue
                self.failed.add(done)
                if outcome == "missing":
                    self.problems.append(
                        self.problem(
                            "ref_missing",
                            "the reference {ref} points to nothing in this document",
                            "引用 {ref} 在本文档中找不到目标",
                            ref.path + ("$ref",),
                            ref=_show(ref.text),
                        )
                    )

    def _cycle(self, ref: _Ref) -> Problem:
        return self.problem(
            "ref_cycle",
            "the reference {ref} leads back to itself",
            "引用 {ref} 形成了循环",
            ref.path + ("$ref",),
            ref=_show(ref.text),
        )

    # -- expansion size, then the copy

    def target(self, node: Any) -> tuple[Any, _Ref | None]:
        if isinstance(node, dict) and id(node) in self.refs:
            ref = self.refs[id(node)]
            return self.targets[id(node)], ref
        return node, None

    def measure(self) -> None:
        """Check the expanded size and depth and find containment cycles, without expanding.

        Each container's expanded size is computed once (containers are shared by every $ref to
        them), so a "ref bomb" costs no more than the document's own size to measure. A problem
        is reported at the most recent $ref inside the subtree that went over a limit.
        """
        # id(container) -> (nodes, height, the last $ref inside it)
        sizes: dict[int, tuple[int, int, _Ref | None]] = {}
        open_ids: set[int] = set()
        root, root_ref = self.target(self.data)
        if not isinstance(root, (dict, list)):
            return
        # [container, iterator of children, nodes, height, last $ref inside, $ref that led here]
        stack: list[list[Any]] = [[root, _children(root), 1, 1, None, root_ref]]
        open_ids.add(id(root))
        while stack:
            frame = stack[-1]
            for child, key_nodes in frame[1]:
                node, ref = self.target(child)
                if ref is not None:
                    frame[4] = ref
                if not isinstance(node, (dict, list)):
                    frame[2] += key_nodes + 1
                    continue
                done = sizes.get(id(node))
                if done is not None:
                    frame[2] += key_nodes + done[0]
                    frame[3] = max(frame[3], done[1] + 1)
                    frame[4] = ref or done[2] or frame[4]
                    self._check_limits(frame[2], frame[3], frame[4])
                    continue
                if id(node) in open_ids:
                    assert ref is not None  # a plain tree has no cycles
                    raise _Fatal(self._cycle(ref))
                frame[2] += key_nodes
                open_ids.add(id(node))
                stack.append([node, _children(node), 1, 1, None, ref])
                break
            else:
                stack.pop()
                open_ids.discard(id(frame[0]))
                sizes[id(frame[0])] = (frame[2], frame[3], frame[4])
                culprit = frame[5] or frame[4]
                self._check_limits(frame[2], frame[3], culprit)
                if stack:
                    parent = stack[-1]
                    parent[2] += frame[2]
                    parent[3] = max(parent[3], frame[3] + 1)
                    parent[4] = culprit or parent[4]
                    self._check_limits(parent[2], parent[3], parent[4])

    def _check_limits(self, nodes: int, height: int, ref: _Ref | None) -> None:
        path = ref.path + ("$ref",) if ref is not None else ()
        if nodes > self.limits.max_nodes:
            raise _Fatal(
                self.problem(
                    "node_limit",
                    "the document has more than {limit} nodes (after expanding references)",
                    "文档节点超过 {limit} 个(展开引用后)",
                    path,
                    limit=self.limits.max_nodes,
                )
            )
        if height > self.limits.max_depth:
            raise _Fatal(
                self.problem(
                    "depth_limit",
                    "the document is nested more than {limit} levels deep (after expanding references)",
                    "文档嵌套超过 {limit} 层(展开引用后)",
                    path,
                    limit=self.limits.max_depth,
                )
            )

    def expand(self) -> Any:
        """A copy of the tree with every $ref replaced by a copy of its target."""
        return _copy_tree(self.data, lambda node: self.target(node)[0])


def _children(node: Any) -> Iterator[tuple[Any, int]]:
    """Children of a container with the nodes their key adds (1 in a mapping, 0 in a list)."""
    if isinstance(node, dict):
        return ((v, 1) for v in node.values())
    return ((v, 0) for v in node)


def _locate(positions: Mapping[Path, Position], path: Path) -> Position:
    key = path
    while key not in positions and key:
        key = key[:-1]
    return positions.get(key, (1, 1))


def _resolve_refs(data: Any, positions: dict[Path, Position], limits: Limits) -> tuple[Any, list[Problem]]:
    resolver = _RefResolver(data, positions, limits)
    resolver.find()
    if resolver.problems or not resolver.refs:
        return data, resolver.problems
    resolver.resolve_targets()
    if resolver.problems:
        return data, resolver.problems
    resolver.measure()
    expanded = resolver.expand()
    # The $ref keys are gone; their paths fall back to the replaced node's position.
    for ref in resolver.refs.values():
        positions.pop(ref.path + ("$ref",), None)
    return expanded, []
