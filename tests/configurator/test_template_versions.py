"""Templates as versions: draft, publish, list, diff in words, rollback; on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from configurator.db import make_engine, make_sessionmaker, session_scope
from configurator.migrate import upgrade
from configurator.models import AuditEvent, TemplateDraft, TemplateVersion
from configurator.services import templates as svc
from rule_engine import TemplateError

ROOT = Path(__file__).resolve().parents[2]
B2B = (ROOT / "templates" / "b2b_software.yaml").read_text(encoding="utf-8")


@pytest.fixture()
def sessions(db_url: str) -> Iterator[object]:
    upgrade(db_url)
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_publish_diff_rollback(sessions) -> None:  # type: ignore[no-untyped-def]
    with session_scope(sessions) as s:
        svc.import_draft(s, B2B)
        v1 = svc.publish(s, "b2b_software", note="first")
    with session_scope(sessions) as s:
        with pytest.raises(svc.ServiceError) as nothing:
            svc.publish(s, "b2b_software")
        assert "nothing to publish" in nothing.value.problems[0].en
    changed = B2B.replace("cap: 10", "cap: 12").replace("name: nurture_in_bulk", "name: nurture_later")
    with session_scope(sessions) as s:
        svc.import_draft(s, changed)
        v2 = svc.publish(s, "b2b_software")
    with session_scope(sessions) as s:
        words = [c.en for c in svc.diff_versions(s, "b2b_software", 1, 2)]
        assert "load.cap changed" in words
        assert "policy 'nurture_in_bulk' removed" in words and "policy 'nurture_later' added" in words
        zh = [c.zh for c in svc.diff_versions(s, "b2b_software", 1, 2)]
        assert "load.cap 已修改" in zh
        v3 = svc.rollback(s, "b2b_software", 1)
    with session_scope(sessions) as s:
        versions = svc.list_versions(s, "b2b_software")
        assert [v.version for v in versions] == [1, 2, 3]
        assert versions[2].source == versions[0].source and versions[2].rolled_back_from == 1
        assert svc.current_version(s, "b2b_software").version == 3  # type: ignore[union-attr]
        assert svc.diff_versions(s, "b2b_software", 1, 3) == []
        # versions are never changed: v1 still holds what was first published
        assert s.get(TemplateVersion, v1.id).source == B2B  # type: ignore[union-attr]
        assert (v2.version, v3.version) == (2, 3)
        published = s.scalars(select(AuditEvent).where(AuditEvent.action == "publish")).all()
        assert len(published) == 3 and published[2].reason == "rollback to version 1"


def test_a_broken_template_is_never_stored(sessions) -> None:  # type: ignore[no-untyped-def]
    broken = B2B.replace('hit_policy: first', 'hit_policy: frist', 1)
    with pytest.raises(TemplateError) as info:
        with session_scope(sessions) as s:
            svc.import_draft(s, broken, source_name="b2b.yaml")
    assert "did you mean 'first'" in str(info.value)
    with session_scope(sessions) as s:
        assert s.scalars(select(TemplateDraft)).all() == []
        with pytest.raises(svc.ServiceError):
            svc.get_version(s, "b2b_software")


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, FENPEI_INSTANCE=str(cwd / "instance"), FENPEI_LANG="en")
    env.pop("FENPEI_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "configurator", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_cli_template_verbs(tmp_path: Path) -> None:
    before = run(tmp_path, "template", "list", "b2b_software")
    assert before.returncode == 1 and "run `fenpei init` first" in before.stdout + before.stderr
    assert run(tmp_path, "init").returncode == 0
    out = run(tmp_path, "template", "import", str(ROOT / "templates" / "b2b_software.yaml"), "--publish", "--note", "first")
    assert out.returncode == 0 and "published b2b_software version 1" in out.stdout
    (tmp_path / "b2.yaml").write_text(B2B.replace("cap: 10", "cap: 12"), encoding="utf-8")
    assert run(tmp_path, "template", "import", "b2.yaml").returncode == 0
    assert "version 2" in run(tmp_path, "template", "publish", "b2b_software").stdout
    assert run(tmp_path, "template", "diff", "b2b_software", "1", "2").stdout.strip() == "- load.cap changed"
    assert "version 3 (the same as version 1)" in run(tmp_path, "template", "rollback", "b2b_software", "1").stdout
    listing = run(tmp_path, "template", "list", "b2b_software").stdout.splitlines()
    assert [line.split()[0] for line in listing] == ["v1", "v2", "v3"] and "rollback to v1" in listing[2]
    assert run(tmp_path, "template", "export", "b2b_software", "--version", "1").stdout == B2B
    missing = run(tmp_path, "template", "diff", "b2b_software", "1", "9")
    assert missing.returncode == 1 and "has no version 9" in missing.stdout and "Traceback" not in missing.stderr
    bad = run(tmp_path, "template", "import", str(ROOT / "README.md"))
    assert bad.returncode == 1 and "README.md:" in bad.stdout and "Traceback" not in bad.stderr


def test_unreachable_database_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    env = dict(os.environ, FENPEI_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:1/none", FENPEI_LANG="en")
    out = subprocess.run([sys.executable, "-m", "configurator", "template", "list", "b2b_software"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stdout.startswith("database error:") and "nothing was changed" in out.stdout
    assert "Traceback" not in out.stderr
