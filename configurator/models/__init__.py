"""The persistent model, grouped by aggregate."""

from __future__ import annotations

from configurator.models.jobs import ImportRowProblem, Job
from configurator.models.lead import FollowUp, Handover, Lead, PoolClaim
from configurator.models.ledger import AuditEvent, PointEntry
from configurator.models.notification import Notification
from configurator.models.team import Leave, Rep, RotationState, Team
from configurator.models.template import TemplateDraft, TemplateVersion

__all__ = [
    "AuditEvent",
    "FollowUp",
    "Handover",
    "ImportRowProblem",
    "Job",
    "Lead",
    "Leave",
    "Notification",
    "PointEntry",
    "PoolClaim",
    "Rep",
    "RotationState",
    "Team",
    "TemplateDraft",
    "TemplateVersion",
]
