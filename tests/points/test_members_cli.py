"""``bonusbridge points members``: export the file, print the plan of an edited one without writing,
apply it with ``--apply`` (audited with ``--by``), refuse a bad file with every row — through the
real command and a SQLite database of its own."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from bonusbridge import audit
from bonusbridge.db import create_db_engine
from bonusbridge.models import Customer, Origin, ProgramMember
from bonusbridge.points.cli import app
from bonusbridge.schema import upgrade
from bonusbridge.settings import get_settings
from bonusbridge.unit_of_work import UnitOfWork


def test_members_commands(tmp_path: Path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'members.sqlite3'}"
    monkeypatch.setenv("BONUSBRIDGE_DATABASE_URL", url)
    get_settings.cache_clear()
    engine = create_db_engine(url)
    upgrade(engine)
    with UnitOfWork(engine) as uow:
        ids = [
            uow.customers.add(Customer(changed_by=Origin.ONEC, phone_e164="+79161234567", last_name=name)).id
            for name in ("Орлова", "Petit")
        ]
        uow.commit()
    runner = CliRunner()
    exported = tmp_path / "members.csv"
    done = runner.invoke(app, ["members", "export", str(exported)])
    assert done.exit_code == 0, done.output
    assert done.output.strip() == f"2 customers written to {exported}"
    text = exported.read_bytes().decode("utf-8-sig")
    assert text.splitlines()[1] == f"{ids[0]};+79161234567;Орлова;;;;0.00;0"
    edited = tmp_path / "edited.csv"
    edited.write_bytes(text.replace(";0\r\n", ";1\r\n").encode("utf-8-sig"))

    planned = runner.invoke(app, ["members", "import", str(edited), "--by", "marketing-anna"])
    assert planned.exit_code == 0, planned.output
    assert "rows: 2, join: 2, leave: 0, unchanged: 0" in planned.output and "--apply" in planned.output
    assert "+7916" not in planned.output and "Орлова" not in planned.output
    with engine.connect() as conn:
        assert conn.execute(select(ProgramMember.customer_id)).all() == []

    applied = runner.invoke(app, ["members", "import", str(edited), "--by", "marketing-anna", "--apply"])
    assert applied.exit_code == 0, applied.output
    assert "applied: 2 joined, 0 left" in applied.output
    with engine.connect() as conn:
        (entry,) = audit.entries(conn, action_prefix="members.import")
    assert entry.actor == "marketing-anna" and entry.details["file"] == "edited.csv"
    again = runner.invoke(app, ["members", "import", str(edited), "--by", "marketing-anna", "--apply"])
    assert "join: 0" in again.output and "applied: 0 joined, 0 left" in again.output

    bad = tmp_path / "bad.csv"
    bad.write_text(f"customer_id;member\n{ids[0]};2\n999;1\n", encoding="utf-8")
    refused = runner.invoke(app, ["members", "import", str(bad), "--by", "marketing-anna", "--apply"])
    assert refused.exit_code == 1
    assert "row 2: bad_member_value" in refused.output and "row 3: unknown_customer" in refused.output
    assert runner.invoke(app, ["members", "export", str(exported), "--separator", "pipe"]).exit_code == 2
    engine.dispose()
    get_settings.cache_clear()
