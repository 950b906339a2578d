"""A small fixed data set for the manager's dashboard, on top of :func:`api_support.world`, with
every figure the dashboard shows worked out by hand (``EXPECTED``).

Team east (B2B software template, cap 10), at ``NOW`` = 2026-11-23 09:00 Asia/Shanghai (a Monday):

==== ===== ===================== ======== ===== ============================== ===================
lead owner fields                 tier     weight state                          follow-ups
==== ===== ===================== ======== ===== ============================== ===================
LA   r02   world's (score 30)     C        1.5   owned, assigned NOW-1d         none
LB   r03   world's                C        1.5   owned, assigned NOW-1d         none
LP   —     world's                C        1.5   pool since NOW (created)
H1   r01   heavy + ceo (70)       A        3     owned, assigned NOW-4d         2, last NOW-1d
H2   r01   heavy + ceo            A        3     owned, assigned NOW-12d        1, first NOW-10d, last NOW-8d
H3   r01   heavy (55)             B        3     owned, assigned NOW-1d         none
H4   r03   heavy                  B        3     owned, assigned NOW-3d         1, NOW-2d
H5   r03   heavy + ceo            A        3     owned, assigned NOW-1d         none
H6   r03   heavy + ceo            A        3     owned, assigned NOW-1d         none
W1   r03   heavy + ceo, stage won A        (3)   owned, not open (won)          none
X1   —     heavy                  B        3     new (waiting for assignment)
P2   —     heavy + ceo            A        3     pool since NOW-2d (reclaimed)
==== ===== ===================== ======== ===== ============================== ===================

"heavy": deal size 2,000,000 (value high) and 6 decision makers (difficulty high): weight 3;
score = finance 20 + 800 employees 10 + budget confirmed 25 (= 55, tier B) + a CEO contact 15
(= 70, tier A). r01 is on leave this week, r02 is paused.

Audit rows for fairness (days in Asia/Shanghai): 11-23: assign r01 twice, assign r02 once, a
claim by r03 (not counted); 11-22: assign r01, r02, r03 once each and a reassign to r03
(one of them at 23:30 local, 15:30 UTC); 11-21: nothing. A west assignment on 11-23 (another team).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from api_support import NOW, World, lead_fields
from sqlalchemy import insert, update

from configurator.app import workspace_of
from configurator.db import session_scope
from configurator.models import AuditEvent, Lead, Leave, Rep
from configurator.services import leads as leads_svc
from configurator.services import teams as teams_svc
from configurator.services import templates as tmpl_svc

DAY = dt.timedelta(days=1)
HEAVY = {"deal_size": 2000000, "decision_makers": 6, "budget_confirmed": True}
CEO = {"contact_role": "ceo"}

# lead -> (extra fields, state, owner, assigned_at, first follow-up, last follow-up, follow-ups, reclaimed_at)
LEADS: dict[str, tuple[dict[str, Any], str, str | None, Any, Any, Any, int, Any]] = {
    "H1": ({**HEAVY, **CEO}, "owned", "r01", NOW - 4 * DAY, NOW - 3 * DAY, NOW - DAY, 2, None),
    "H2": ({**HEAVY, **CEO}, "owned", "r01", NOW - 12 * DAY, NOW - 10 * DAY, NOW - 8 * DAY, 1, None),
    "H3": (dict(HEAVY), "owned", "r01", NOW - DAY, None, None, 0, None),
    "H4": (dict(HEAVY), "owned", "r03", NOW - 3 * DAY, NOW - 2 * DAY, NOW - 2 * DAY, 1, None),
    "H5": ({**HEAVY, **CEO}, "owned", "r03", NOW - DAY, None, None, 0, None),
    "H6": ({**HEAVY, **CEO}, "owned", "r03", NOW - DAY, None, None, 0, None),
    "W1": ({**HEAVY, **CEO, "stage": "won"}, "owned", "r03", NOW - 5 * DAY, NOW - 4 * DAY, NOW - 4 * DAY, 1, None),
    "X1": (dict(HEAVY), "new", None, None, None, None, 0, None),
    "P2": ({**HEAVY, **CEO}, "pool", None, None, None, None, 0, NOW - 2 * DAY),
}

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def _local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI).astimezone(dt.timezone.utc)


# (team, action, to_rep, at)
AUDIT = [
    ("east", "assign", "r01", _local(23, 0, 30)),
    ("east", "assign", "r01", _local(23, 8)),
    ("east", "assign", "r02", _local(23, 8, 30)),
    ("east", "claim", "r03", _local(23, 8, 45)),
    ("east", "assign", "r01", _local(22, 10)),
    ("east", "assign", "r02", _local(22, 11)),
    ("east", "assign", "r03", _local(22, 12)),
    ("east", "reassign", "r03", _local(22, 23, 30)),
    ("west", "assign", "w01", _local(23, 8)),
]

EXPECTED: dict[str, Any] = {
    # rep -> (load, light, unavailable)
    "loads": {"r01": (9.0, "yellow", "on_leave"), "r02": (1.5, "green", "paused"), "r03": (10.5, "red", None)},
    # tier -> (owned, pool, other)
    "open_by_grade": {"A": (4, 1, 0), "B": (2, 0, 1), "C": (2, 1, 0)},
    "pool": (2, "P2", NOW - 2 * DAY),
    # (lead, kind) -> day, over 7 days
    "due7": {("H2", "reclaim"): 0, ("LA", "reclaim"): 2, ("LB", "reclaim"): 2, ("H3", "reclaim"): 2, ("H5", "reclaim"): 2, ("H6", "reclaim"): 2, ("H4", "reclaim"): 5, ("H1", "reclaim"): 6},
    # over 3 days: H4's reminder (deadline NOW+5d, 2 days' notice) comes on day 3
    "due3": {("H2", "reclaim"): 0, ("LA", "reclaim"): 2, ("LB", "reclaim"): 2, ("H3", "reclaim"): 2, ("H5", "reclaim"): 2, ("H6", "reclaim"): 2, ("H4", "remind"): 3},
    # day -> (counts, spread, gini)
    "fairness_days": {
        "2026-11-21": ({"r01": 0, "r02": 0, "r03": 0}, 0, 0.0),
        "2026-11-22": ({"r01": 1, "r02": 1, "r03": 2}, 1, 0.1667),
        "2026-11-23": ({"r01": 2, "r02": 1, "r03": 0}, 2, 0.4444),
    },
    # rep -> (owned open, responded, followed up in 7 days)
    "rates": {"r01": (3, 2, 1), "r02": (1, 0, 0), "r03": (4, 1, 1)},
    "team_rates": (8, 3, 2),
    # tier -> (leads, won)
    "conversion": {"A": (6, 1), "B": (3, 0), "C": (3, 0)},
}


def build(w: World) -> None:
    """Add the data set above to a world built by :func:`api_support.world`."""
    with session_scope(workspace_of(w.app).sessions, write_lock=True) as s:
        east = teams_svc.get_team(s, "east")
        west = teams_svc.get_team(s, "west")
        version = tmpl_svc.get_version(s, "b2b_software")
        for i, (lead_id, (extra, state, owner, assigned, first, last, count, reclaimed)) in enumerate(LEADS.items()):
            leads_svc.add_lead(s, east, version, {"id": lead_id, **lead_fields(f"公司{lead_id}", f"1390000000{i}", **extra)}, NOW)
            s.execute(
                update(Lead)
                .where(Lead.id == lead_id)
                .values(state=state, owner_id=owner, assigned_at=assigned, first_followup_at=first, last_followup_at=last, followup_count=count, reclaimed_at=reclaimed)
            )
        s.execute(update(Lead).where(Lead.id.in_(["LA", "LB"])).values(assigned_at=NOW - DAY))
        s.execute(update(Rep).where(Rep.id == "r02").values(status="paused"))
        s.add(Leave(rep_id="r01", start=dt.date(2026, 11, 20), end=dt.date(2026, 11, 27)))
        teams = {"east": east.id, "west": west.id}
        s.execute(insert(AuditEvent), [{"at": at, "team_id": teams[team], "actor": "system", "action": action, "to_rep_id": rep} for team, action, rep, at in AUDIT])
