"""The embedded broker (``sqlite:///path``) through kombu, the way Celery uses it: a delivered
message is leased, not lost; an acknowledged one is gone; a rejected or abandoned one comes back;
two consumers never take the same message."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection, Queue

from configurator.broker import broker_path


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'broker.sqlite3'}"


@pytest.fixture
def queue() -> Queue:
    return Queue("jobs", routing_key="jobs")


def _connect(url: str, **options: float) -> Connection:
    import configurator.broker  # noqa: F401 - registers the transport

    return Connection(url, transport_options={"polling_interval": 0.01, **options})


@pytest.fixture
def conn(url: str) -> Iterator[Connection]:
    with _connect(url) as c:
        yield c


def _publish(conn: Connection, queue: Queue, *bodies: object) -> None:
    with conn.Producer() as producer:
        for body in bodies:
            producer.publish(body, routing_key=queue.routing_key, declare=[queue], serializer="json")


def _size(conn: Connection, queue: Queue) -> int:
    return int(queue(conn.default_channel).queue_declare(passive=True).message_count)


def _rows(url: str) -> int:
    import sqlite3

    with sqlite3.connect(broker_path(url)) as db:
        return int(db.execute("SELECT count(*) FROM kombu_messages").fetchone()[0])


def test_a_message_is_kept_until_acknowledged(conn: Connection, queue: Queue, url: str) -> None:
    _publish(conn, queue, {"job": 1}, {"job": 2})
    bound = queue(conn.default_channel)
    first = bound.get(no_ack=False)
    assert first is not None and first.payload == {"job": 1}
    assert _size(conn, queue) == 1 and _rows(url) == 2  # delivered, leased, still stored
    first.ack()
    assert _rows(url) == 1
    second = bound.get(no_ack=False)
    assert second is not None and second.payload == {"job": 2}
    second.ack()
    assert bound.get(no_ack=False) is None and _rows(url) == 0


def test_a_rejected_message_with_requeue_comes_back_at_once(conn: Connection, queue: Queue) -> None:
    _publish(conn, queue, {"job": 1})
    bound = queue(conn.default_channel)
    message = bound.get(no_ack=False)
    assert message is not None and not message.delivery_info.get("redelivered")
    message.reject(requeue=True)
    again = bound.get(no_ack=False)
    assert again is not None and again.payload == {"job": 1}
    again.reject(requeue=False)
    assert bound.get(no_ack=False) is None and _size(conn, queue) == 0


def test_a_message_held_by_a_consumer_that_vanished_is_delivered_again_after_its_lease(url: str, queue: Queue) -> None:
    killed = _connect(url, visibility_timeout=0.5)
    _publish(killed, queue, {"job": 7})
    assert queue(killed.default_channel).get(no_ack=False) is not None
    # The consumer is gone without acknowledging or closing (a killed worker): nothing to restore it.
    with _connect(url, visibility_timeout=0.5) as other:
        bound = queue(other.default_channel)
        assert bound.get(no_ack=False) is None  # leased to the vanished consumer
        time.sleep(0.6)
        again = bound.get(no_ack=False)
        assert again is not None and again.payload == {"job": 7}
        assert again.delivery_info.get("redelivered") is True
        again.ack()
    killed.release()


def test_closing_a_consumer_gives_its_unacknowledged_messages_back(url: str, queue: Queue) -> None:
    leaving = _connect(url)
    _publish(leaving, queue, {"job": 3})
    with leaving.Consumer(queue, accept=["json"], callbacks=[lambda body, message: None]):
        leaving.drain_events(timeout=2)
    leaving.release()
    with _connect(url) as other:
        message = queue(other.default_channel).get(no_ack=False)
        assert message is not None and message.payload == {"job": 3}
        message.ack()


def test_two_consumers_never_take_the_same_message(url: str, queue: Queue) -> None:
    with _connect(url) as a, _connect(url) as b:
        _publish(a, queue, *({"n": n} for n in range(40)))
        qa, qb = queue(a.default_channel), queue(b.default_channel)
        seen: list[int] = []
        for i in range(40):
            message = (qa if i % 2 else qb).get(no_ack=False)
            assert message is not None
            seen.append(message.payload["n"])
            message.ack()
        assert sorted(seen) == list(range(40)) and qa.get() is None


def test_purge_removes_waiting_messages(conn: Connection, queue: Queue) -> None:
    _publish(conn, queue, {"a": 1}, {"a": 2})
    assert queue(conn.default_channel).purge() == 2
    assert _size(conn, queue) == 0


@pytest.mark.parametrize("bad", ["sqlite://", "sqlite:///", "redis://x", "sqlite:relative"])
def test_a_broker_url_must_name_a_file(bad: str) -> None:
    with pytest.raises(ValueError, match="not a sqlite:///path broker URL"):
        broker_path(bad)


def test_broker_path_reads_like_a_database_url() -> None:
    assert broker_path("sqlite:////srv/fenpei/broker.sqlite3") == Path("/srv/fenpei/broker.sqlite3")
    assert broker_path("sqlite:///instance/broker.sqlite3") == Path("instance/broker.sqlite3")
