"""The persistent model, grouped by aggregate."""

from __future__ import annotations

from configurator.models.account import ROLES, ApiToken, AppSecret, ManagedTeam, User, Webhook, WebhookDelivery
from configurator.models.jobs import ImportRowProblem, Job
from configurator.models.lead import FollowUp, Handover, Lead, PoolClaim
from configurator.models.ledger import AuditEvent, PointEntry
from configurator.models.notification import Notification
from configurator.models.target import HealthReport, TargetNode, TargetPlan, TargetResult
from configurator.models.team import Leave, Rep, RotationState, Team
from configurator.models.template import TemplateDraft, TemplateVersion

__all__ = [
    "ROLES",
    "ApiToken",
    "AppSecret",
    "AuditEvent",
    "FollowUp",
    "Handover",
    "HealthReport",
    "ImportRowProblem",
    "Job",
    "Lead",
    "Leave",
    "ManagedTeam",
    "Notification",
    "PointEntry",
    "PoolClaim",
    "Rep",
    "RotationState",
    "TargetNode",
    "TargetPlan",
    "TargetResult",
    "Team",
    "TemplateDraft",
    "TemplateVersion",
    "User",
    "Webhook",
    "WebhookDelivery",
]
