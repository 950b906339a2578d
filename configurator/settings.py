"""Where Fenpei keeps its data and sends its jobs: embedded defaults, overridden by environment.

| variable | default | what |
|---|---|---|
| ``FENPEI_INSTANCE`` | ``./instance`` | folder for the embedded database, broker and exports |
| ``FENPEI_DATABASE_URL`` | ``sqlite:///<instance>/fenpei.sqlite3`` | SQLAlchemy URL; ``postgresql+psycopg://…`` for teams |
| ``FENPEI_BROKER_URL`` | ``sqlite:///<instance>/broker.sqlite3`` | Celery broker for background jobs: the embedded file broker, or ``redis://…`` / ``amqp://…`` for workers on several machines |
| ``FENPEI_QUEUE`` | ``fenpei`` | the broker queue jobs go through (installations sharing one broker use different names) |
| ``FENPEI_JOB_LEASE`` | ``120`` | seconds a worker holds a job between two batches; a job whose worker stopped renewing it is taken over after that |
| ``FENPEI_SECRET_KEY`` | generated once, kept in the database | signs login sessions; set it to rotate the key (every session ends) |
| ``FENPEI_COOKIE_SECURE`` | ``1`` | ``0`` lets the session cookie travel over plain HTTP (development on another host than localhost only) |
| ``FENPEI_MAX_BODY`` | ``16777216`` | largest request body the web app accepts, in bytes (413 above) |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rule_engine import Problem
from rule_engine.errors import FenpeiError

__all__ = ["Settings", "SettingsError"]


class SettingsError(FenpeiError):
    """An environment variable Fenpei reads has an unusable value."""


@dataclass(frozen=True)
class Settings:
    instance: Path
    database_url: str
    broker_url: str
    queue: str = "fenpei"
    job_lease: float = 120.0
    secret_key: str | None = None
    cookie_secure: bool = True
    max_body: int = 16 * 1024 * 1024

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Settings from the environment, with the embedded defaults."""
        env = dict(os.environ if environ is None else environ)
        instance = Path(env.get("FENPEI_INSTANCE") or "instance").resolve()
        lease = env.get("FENPEI_JOB_LEASE") or "120"
        try:
            job_lease = float(lease)
        except ValueError:
            job_lease = 0.0
        if not 0 < job_lease < float("inf"):
            raise SettingsError(Problem.make("settings.job_lease", "FENPEI_JOB_LEASE: {v!r} is not a number of seconds above 0", "FENPEI_JOB_LEASE:{v!r} 不是大于 0 的秒数", v=lease))
        body = env.get("FENPEI_MAX_BODY") or str(16 * 1024 * 1024)
        if not body.isdigit() or int(body) < 1024:
            raise SettingsError(Problem.make("settings.max_body", "FENPEI_MAX_BODY: {v!r} is not a number of bytes of at least 1024", "FENPEI_MAX_BODY:{v!r} 不是不小于 1024 的字节数", v=body))
        return cls(
            instance=instance,
            database_url=env.get("FENPEI_DATABASE_URL") or f"sqlite:///{instance / 'fenpei.sqlite3'}",
            broker_url=env.get("FENPEI_BROKER_URL") or f"sqlite:///{instance / 'broker.sqlite3'}",
            queue=env.get("FENPEI_QUEUE") or "fenpei",
            job_lease=job_lease,
            secret_key=env.get("FENPEI_SECRET_KEY") or None,
            cookie_secure=(env.get("FENPEI_COOKIE_SECURE") or "1").lower() not in ("0", "false", "no", "off"),
            max_body=int(body),
        )

    @property
    def embedded(self) -> bool:
        """True when the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @property
    def embedded_broker(self) -> bool:
        """True when the broker is the embedded SQLite file broker (no server)."""
        return self.broker_url.startswith("sqlite://")
