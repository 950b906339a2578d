"""A small installation for the API tests: the B2B software template published, two teams, reps,
users of every role with API tokens, and a few leads in known places.

``world(db_url, tmp_path)`` returns a :class:`World` with a Flask test client and a token per
user: ``admin``, ``mgr_east`` (manages east), ``mgr_west`` (manages west), ``rep_a`` and ``rep_b``
(reps r02 and r03 of east). Leads: ``LA`` owned by rep_a, ``LB`` owned by rep_b, ``LP`` in east's
pool, ``LW`` owned by west's rep w01.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from configurator.app import create_app, workspace_of
from configurator.db import session_scope
from configurator.migrate import upgrade
from configurator.models import Lead
from configurator.services import accounts
from configurator.services import leads as leads_svc
from configurator.services import teams as teams_svc
from configurator.services import templates as tmpl_svc
from configurator.settings import Settings
from rule_engine import Rep as EngineRep

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.timezone.utc)
ROLES = ("admin", "mgr_east", "mgr_west", "rep_a", "rep_b")


def lead_fields(company: str, phone: str, **extra: Any) -> dict[str, Any]:
    """Valid field values for the B2B software template."""
    return {
        "company": company,
        "industry": "finance",
        "region": "east",
        "contact": "王先生",
        "phone": phone,
        "stage": "new",
        "deal_size": 300000,
        "employees": 800,
        **extra,
    }


@dataclass
class World:
    app: Flask
    client: FlaskClient
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str | None, lang: str = "en") -> dict[str, str]:
        h = {"Accept-Language": lang}
        if who is not None:
            h["Authorization"] = f"Bearer {self.tokens[who]}"
        return h

    def call(self, who: str | None, method: str, path: str, body: Any = None, lang: str = "en", **kw: Any) -> Any:
        """One API call as ``who`` (None: anonymous); returns the test client's response."""
        return self.client.open("/api/v1" + path, method=method, json=body, headers=self.headers(who, lang), **kw)

    def close(self) -> None:
        workspace_of(self.app).engine.dispose()


def world(db_url: str, tmp_path: Path) -> World:
    """The installation described in the module docstring, on a fresh schema at ``db_url``."""
    upgrade(db_url)
    settings = Settings(instance=tmp_path, database_url=db_url, broker_url=f"sqlite:///{tmp_path / 'broker.sqlite3'}", cookie_secure=False)
    app = create_app({"TESTING": True, "FENPEI_SETTINGS": settings})
    ws = workspace_of(app)
    w = World(app, app.test_client())
    with session_scope(ws.sessions, write_lock=True) as s:
        tmpl_svc.import_draft(s, (ROOT / "templates" / "b2b_software.yaml").read_text(encoding="utf-8"))
        version = tmpl_svc.publish(s, "b2b_software")
        east = teams_svc.create_team(s, "east", "华东组", "b2b_software")
        west = teams_svc.create_team(s, "west", "西部组", "b2b_software")
        attrs = {"level": "senior", "regions": ["east", "north", "south", "central", "west"]}
        teams_svc.upsert_reps(s, east, [EngineRep(id=f"r0{i}", name=f"Rep {i}", attrs=dict(attrs)) for i in (1, 2, 3)])
        teams_svc.upsert_reps(s, west, [EngineRep(id="w01", name="West 1", attrs=dict(attrs))])
        users = {
            "admin": accounts.create_user(s, "admin", "admin", password="admin-password-1")[0],
            "mgr_east": accounts.create_user(s, "mgr_east", "manager", password="manager-password-1", teams=["east"])[0],
            "mgr_west": accounts.create_user(s, "mgr_west", "manager", password="manager-password-2", teams=["west"])[0],
            "rep_a": accounts.create_user(s, "rep_a", "rep", password="rep-a-password-1", rep_id="r02")[0],
            "rep_b": accounts.create_user(s, "rep_b", "rep", password="rep-b-password-1", rep_id="r03")[0],
        }
        for name, user in users.items():
            w.tokens[name] = accounts.create_token(s, user, "tests", NOW)[1]
        placed = {"LA": ("east", "owned", "r02"), "LB": ("east", "owned", "r03"), "LP": ("east", "pool", None), "LW": ("west", "owned", "w01")}
        for i, (lead_id, (team, state, owner)) in enumerate(placed.items()):
            row = east if team == "east" else west
            leads_svc.add_lead(s, row, version, {"id": lead_id, **lead_fields(f"公司{lead_id}", f"1380000000{i}")}, NOW)
            s.execute(update(Lead).where(Lead.id == lead_id).values(state=state, owner_id=owner, assigned_at=NOW if owner else None, is_open=True))
    return w
