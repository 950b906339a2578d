"""The database behind a CLI verb or a job: settings, engine, and a check that it is initialised."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from configurator.db import make_engine, make_sessionmaker
from configurator.settings import Settings
from rule_engine import Problem
from rule_engine.errors import FenpeiError

__all__ = ["NotInitialised", "Workspace"]


class NotInitialised(FenpeiError):
    """The database has no Fenpei tables yet."""


@dataclass
class Workspace:
    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        if self.settings.embedded:
            self.settings.instance.mkdir(parents=True, exist_ok=True)
        return make_engine(self.settings.database_url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_sessionmaker(self.engine)

    def require_schema(self) -> None:
        """Refuse clearly when ``fenpei init`` has not run against this database."""
        if "template_versions" not in inspect(self.engine).get_table_names():
            raise NotInitialised(
                Problem.make(
                    "db.uninitialised",
                    "the database {url} is not initialised: run `fenpei init` first",
                    "数据库 {url} 尚未初始化:请先运行 `fenpei init`",
                    url=self.engine.url.render_as_string(hide_password=True),
                )
            )
