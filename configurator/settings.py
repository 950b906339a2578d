"""Where Fenpei keeps its data and sends its jobs: embedded defaults, overridden by environment.

| variable | default | what |
|---|---|---|
| ``FENPEI_INSTANCE`` | ``./instance`` | folder for the embedded database, broker and exports |
| ``FENPEI_DATABASE_URL`` | ``sqlite:///<instance>/fenpei.sqlite3`` | SQLAlchemy URL; ``postgresql+psycopg://…`` for teams |
| ``FENPEI_BROKER_URL`` | ``sqla+sqlite:///<instance>/broker.sqlite3`` | Celery broker (background jobs are not wired yet) |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    instance: Path
    database_url: str
    broker_url: str

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Settings from the environment, with the embedded defaults."""
        env = dict(os.environ if environ is None else environ)
        instance = Path(env.get("FENPEI_INSTANCE") or "instance").resolve()
        return cls(
            instance=instance,
            database_url=env.get("FENPEI_DATABASE_URL") or f"sqlite:///{instance / 'fenpei.sqlite3'}",
            broker_url=env.get("FENPEI_BROKER_URL") or f"sqla+sqlite:///{instance / 'broker.sqlite3'}",
        )

    @property
    def embedded(self) -> bool:
        """True when the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")
