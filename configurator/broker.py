"""The embedded broker: Celery messages kept in a SQLite file, so the default needs no server.

The broker URL is ``sqlite:///<path>`` (the same form as a SQLAlchemy URL: four slashes before an
absolute path). Importing this module registers the ``sqlite`` transport with kombu.

A message is a row. Delivering it leases it: the row stays, invisible until ``visibility_timeout``
seconds have passed. Acknowledging deletes it; a reject with requeue, or a consumer that shuts down
with messages in hand, makes it visible again at once; a worker killed outright leaves it leased, and
it is delivered again when the lease runs out (Redis's transport behaves the same way). Delivery is
therefore at least once, which the tasks are built for (:mod:`configurator.tasks`).

Several processes on one machine share the file (WAL journal; a delivery is one ``UPDATE …
RETURNING`` statement, so two consumers never take the same row). Workers on several machines
need a broker server: Redis or RabbitMQ.

kombu ships two serverless transports; neither fits. Its SQLAlchemy transport relies on a loader
strategy SQLAlchemy 2.1 deprecates for removal and never deletes consumed messages; its
filesystem transport can read a message file while its writer is still writing it. Both drop
a message that was in the hands of a worker that is killed.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from queue import Empty
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, virtual

__all__ = ["SCHEME", "Channel", "Transport", "broker_path"]

SCHEME = "sqlite"

# An hour, as for Redis: a task still running when its message turns visible again is delivered
# a second time, which the tasks treat as a no-op (the job's lease is held by a live worker).
VISIBILITY_TIMEOUT = 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kombu_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    tag TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    visible_at REAL NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ix_kombu_messages_queue ON kombu_messages (queue, visible_at, id);
"""


def broker_path(url: str) -> Path:
    """The file of a ``sqlite:///path`` broker URL (``sqlite:////abs/path`` for an absolute one)."""
    prefix = f"{SCHEME}://"
    if not url.startswith(prefix) or not url[len(prefix) :].startswith("/") or len(url) <= len(prefix) + 1:
        raise ValueError(f"not a {SCHEME}:///path broker URL: {url!r}")
    return Path(url[len(prefix) + 1 :])


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(_SCHEMA)
    return db


class QoS(virtual.QoS):
    """Acknowledging a message deletes its row; rejecting without requeue does too."""

    channel: Channel

    def ack(self, delivery_tag: str) -> None:
        self.channel._forget(delivery_tag)
        super().ack(delivery_tag)

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        if not requeue:
            self.channel._forget(delivery_tag)
        super().reject(delivery_tag, requeue=requeue)  # requeue: Channel._restore shows it again


class Channel(virtual.Channel):
    """One connection to the broker file; calls are serialised (acks may come from other threads)."""

    QoS = QoS
    visibility_timeout: float = VISIBILITY_TIMEOUT
    from_transport_options = (*virtual.Channel.from_transport_options, "visibility_timeout")  # type: ignore[assignment]

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        super().__init__(connection, **kwargs)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = _connect(broker_path(self.connection.client.hostname))
        return self._db

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.db.execute(sql, params).fetchall()

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        """Queues are a column: nothing to create."""

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        return True

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        tag = message["properties"]["delivery_tag"]
        self._run("INSERT INTO kombu_messages (queue, tag, payload, visible_at) VALUES (?, ?, ?, ?)", (queue, tag, json.dumps(message), time.time()))

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        now = time.time()
        if not self._run("SELECT 1 FROM kombu_messages WHERE queue = ? AND visible_at <= ? LIMIT 1", (queue, now)):
            raise Empty()  # the common case of a poll takes no write lock
        rows = self._run(
            "UPDATE kombu_messages SET visible_at = ?, deliveries = deliveries + 1"
            " WHERE id = (SELECT id FROM kombu_messages WHERE queue = ? AND visible_at <= ? ORDER BY id LIMIT 1)"
            " RETURNING payload, deliveries",
            (now + float(self.visibility_timeout), queue, now),
        )
        if not rows:
            raise Empty()  # another consumer took it
        payload: dict[str, Any] = json.loads(rows[0][0])
        if rows[0][1] > 1:  # delivered before: say so, as the AMQP flag does
            payload["redelivered"] = True
            payload.setdefault("properties", {}).setdefault("delivery_info", {})["redelivered"] = True
        return payload

    def _restore(self, message: Any) -> None:
        """Show a message again at once (a reject with requeue, or a consumer closing)."""
        with self._lock:
            changed = self.db.execute("UPDATE kombu_messages SET visible_at = ? WHERE tag = ?", (time.time(), message.delivery_tag)).rowcount
        if not changed:  # acknowledged and deleted meanwhile by nobody else: publish it again
            super()._restore(message)

    def _forget(self, delivery_tag: str) -> None:
        self._run("DELETE FROM kombu_messages WHERE tag = ?", (delivery_tag,))

    def _size(self, queue: str) -> int:
        return int(self._run("SELECT count(*) FROM kombu_messages WHERE queue = ? AND visible_at <= ?", (queue, time.time()))[0][0])

    def _purge(self, queue: str) -> int:
        with self._lock:
            return int(self.db.execute("DELETE FROM kombu_messages WHERE queue = ? AND visible_at <= ?", (queue, time.time())).rowcount)

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        self._run("DELETE FROM kombu_messages WHERE queue = ?", (queue,))

    def close(self) -> None:
        super().close()  # gives back unacknowledged messages first (through _restore)
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class Transport(virtual.Transport):
    """kombu transport for ``sqlite:///path`` broker URLs."""

    Channel = Channel
    can_parse_url = True  # keep the whole URL as the "hostname": it names the file
    default_port = 0  # type: ignore[assignment]
    polling_interval = 0.2
    driver_type = "sqlite"
    driver_name = "sqlite3"
    connection_errors = (*virtual.Transport.connection_errors, sqlite3.OperationalError)  # type: ignore[assignment]
    channel_errors = (*virtual.Transport.channel_errors, sqlite3.DatabaseError)  # type: ignore[assignment]

    def driver_version(self) -> str:
        return sqlite3.sqlite_version


TRANSPORT_ALIASES.setdefault(SCHEME, f"{__name__}:Transport")
