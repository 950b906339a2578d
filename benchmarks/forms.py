"""Generated forms with many fields: how long the state call and the page's HTML take.

A template with ``--fields`` lead fields (100 by default: every field type, groups of ten, a fifth
of them shown only when an earlier choice is made, a seventh required only then) becomes the
new-lead form. Timed: building the form model (once per template version, then cached), one
state call as the browser makes it on a change (``read_raw`` + ``form_state`` + its JSON), one validating call
as on submit, and rendering the whole form to HTML. Medians over ``--repeat`` runs; the form's
answers are checked before timing (the fields a choice shows are shown and required).

Last line: JSON ``{"fields", "build_ms", "state_ms", "validate_ms", "render_ms"}``.

    python benchmarks/forms.py --fields 100
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from form_builder import build_form, form_state, read_raw  # noqa: E402
from form_builder.model import _CACHE  # noqa: E402
from form_builder.render import render_fields  # noqa: E402
from rule_engine import loads_template  # noqa: E402

KINDS = ["string", "text", "integer", "number", "boolean", "date", "datetime", "enum", "tags", "email", "phone", "url"]


def template_source(n: int) -> str:
    """A template with ``n`` lead fields of every type; field f{i} for i % 5 == 4 shows only when
    the group's first choice (an enum) is "b", and f{i} for i % 7 == 6 is then required."""
    lines = ["fenpei: 1", "name: many_fields", "title: Many fields", "fields:"]
    for i in range(n):
        group = i // 10
        kind = "enum" if i % 10 == 0 else KINDS[i % len(KINDS)]
        spec = [f"type: {kind}", f"title: {{zh: 字段{i}, en: Field {i}}}", f"group: {{zh: 第{group}组, en: Group {group}}}"]
        if kind in ("enum", "tags"):
            spec.append("options: [a, b, c]")
        if i % 5 == 4:
            spec.append(f"visible_when: 'f{group * 10} == \"b\"'")
        if i % 7 == 6:
            spec.append(f"required_when: 'f{group * 10} == \"b\"'")
        if i % 11 == 3:
            spec.append("required: true")
        lines.append(f"  f{i}: {{{', '.join(spec)}}}")
    lines += ["assignment:", "  policies:", "    - {name: all, strategy: round_robin}"]
    return "\n".join(lines) + "\n"


def values(n: int, choice: str) -> dict[str, Any]:
    """Values as the page's script sends them: every group's first choice set to ``choice``."""
    out: dict[str, Any] = {}
    for i in range(n):
        if i % 10 == 0:
            out[f"f{i}"] = [choice]
        elif i % 3 == 0:
            out[f"f{i}"] = ["12"]
        else:
            out[f"f{i}"] = []
    return out


def median_ms(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    template = loads_template(template_source(args.fields))
    form = build_form(template)
    shown_b = form_state(form, read_raw(form, values(args.fields, "b")))
    shown_a = form_state(form, read_raw(form, values(args.fields, "a")))
    conditional = {f"f{i}" for i in range(args.fields) if i % 5 == 4}
    assert conditional <= shown_b.visible and not conditional & shown_a.visible, "the choice does not show its fields"
    assert {f"f{i}" for i in range(args.fields) if i % 7 == 6 and i % 5 == 4} <= shown_b.required

    def build() -> None:
        _CACHE.clear()
        build_form(template)

    raw = values(args.fields, "b")
    figures = {
        "fields": args.fields,
        "build_ms": round(median_ms(build, max(10, args.repeat // 10)), 3),
        "state_ms": round(median_ms(lambda: json.dumps(form_state(form, read_raw(form, raw)).to_json(form, "zh")), args.repeat), 3),
        "validate_ms": round(median_ms(lambda: json.dumps(form_state(form, read_raw(form, raw), validate=True).to_json(form, "zh")), args.repeat), 3),
        "render_ms": round(median_ms(lambda: render_fields(form, read_raw(form, raw), lang="zh"), max(10, args.repeat // 4)), 3),
    }
    print(f"form of {args.fields} fields: build {figures['build_ms']} ms (once per version), state call {figures['state_ms']} ms, "
          f"validating call {figures['validate_ms']} ms, HTML {figures['render_ms']} ms")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
