"""Fenpei's rule engine: a pure library that loads a template, grades leads, picks owners,
selects leads to remind or reclaim, scores points, and explains every decision.

It does no I/O beyond reading a template file it is asked to load, keeps no state and reads no
clock: the roster, the rotation state and ``now`` come in, decisions and the new state go out.
"""

from __future__ import annotations

from rule_engine.assignment import AssignmentResult, assign
from rule_engine.conditions import Condition, Env, compile_condition, compile_expression, parse, parse_tree, to_tree, unparse
from rule_engine.errors import (
    CompileError,
    ConditionError,
    DocumentError,
    EvaluationError,
    FenpeiError,
    InputError,
    Problem,
    SchemaError,
    TemplateError,
)
from rule_engine.points import Event, PointEntry, score_event
from rule_engine.reclaim import ClaimVerdict, ReclaimVerdict, check_claim, evaluate_reclaim
from rule_engine.roster import Leave, Rep, RotationState, rep_from_raw
from rule_engine.simulate import Simulation, simulate
from rule_engine.template import CompiledTemplate, compile_document, load_template, loads_template
from rule_engine.trace import Decision
from rule_engine.triggers import TriggerOutcome, on_lead_change, on_rep_over_cap, on_rep_unavailable

__all__ = [
    "AssignmentResult",
    "ClaimVerdict",
    "CompileError",
    "CompiledTemplate",
    "Condition",
    "ConditionError",
    "Decision",
    "DocumentError",
    "Env",
    "EvaluationError",
    "Event",
    "FenpeiError",
    "InputError",
    "Leave",
    "PointEntry",
    "Problem",
    "ReclaimVerdict",
    "Rep",
    "RotationState",
    "SchemaError",
    "Simulation",
    "TemplateError",
    "TriggerOutcome",
    "assign",
    "check_claim",
    "compile_condition",
    "compile_document",
    "compile_expression",
    "evaluate_reclaim",
    "load_template",
    "loads_template",
    "on_lead_change",
    "on_rep_over_cap",
    "on_rep_unavailable",
    "parse",
    "parse_tree",
    "rep_from_raw",
    "score_event",
    "simulate",
    "to_tree",
    "unparse",
]
