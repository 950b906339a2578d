"""The public surface of rule_engine is deliberate: a change to it is a change to this list."""

from __future__ import annotations

import rule_engine

EXPECTED = {
    "AssignmentResult", "ClaimVerdict", "CompileError", "CompiledTemplate", "Condition", "ConditionError",
    "Decision", "DocumentError", "Env", "EvaluationError", "Event", "FenpeiError", "InputError", "Leave",
    "PointEntry", "Problem", "ReclaimVerdict", "Rep", "RotationState", "SchemaError", "Simulation",
    "TemplateError", "TriggerOutcome", "assign", "check_claim", "compile_condition", "compile_document",
    "compile_expression", "evaluate_reclaim", "load_template", "loads_template", "on_lead_change",
    "on_rep_over_cap", "on_rep_unavailable", "parse", "parse_tree", "rep_from_raw", "score_event", "simulate",
    "to_tree", "unparse",
}


def test_all_is_pinned() -> None:
    assert set(rule_engine.__all__) == EXPECTED


def test_every_exported_name_exists() -> None:
    missing = [name for name in rule_engine.__all__ if not hasattr(rule_engine, name)]
    assert missing == []
