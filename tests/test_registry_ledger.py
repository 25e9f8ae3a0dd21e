"""The ledger of champion moves lives in the MLflow registry (one tag per move), under a lock."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pytest
from test_cli import assert_one_line_error, run

from pomona.errors import PomonaError
from training import registry, tracking

UC = "fraud"
NAME = "pomona-fraud"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """An MLflow SQLite database with 4 versions of a dummy model (creating the schema takes
    seconds, so it is built once and copied into each test's workspace)."""
    from pomona.workspace import workspace

    home = tmp_path_factory.mktemp("ledger") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POMONA_HOME", str(home))
        ws = workspace(home)
        client = tracking.connect(ws)
        source = home / "dummy-model"
        source.mkdir(parents=True)
        for _ in range(4):
            registry.register(client, UC, source.as_uri(), None, {})
    return home / "mlflow.db"


@pytest.fixture
def client(ws, template):
    """A real SQLite registry in the test's workspace with versions 1 to 4 and no champion."""
    ws.root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, ws.root / "mlflow.db")
    return tracking.connect(ws)


def chain(entries: list[dict]) -> list[tuple]:
    return [(e["action"], e["from_version"], e["to_version"]) for e in entries]


def assert_consistent(ws, client) -> list[dict]:
    """Each entry starts where the previous one ended, and the last one names the alias."""
    entries = registry.history(ws, UC)
    assert entries and entries[0]["from_version"] is None
    for before, after in zip(entries, entries[1:]):
        assert after["from_version"] == before["to_version"], chain(entries)
    assert entries[-1]["to_version"] == str(registry.champion_version(client, UC).version)
    assert [e["id"] for e in entries] == sorted(e["id"] for e in entries)
    return entries


def test_moves_are_registry_tags_in_time_order_with_details(ws, client):
    registry.move_champion(ws, client, UC, "1", action="promote", reason="first model for this use case")
    registry.move_champion(ws, client, UC, "2", action="promote", reason="better", run_id="r" * 32,
                           details={"difference": 0.01, "ci": [0.004, 0.016], "contract_change": False})
    registry.promote(ws, client, UC, 3, "manual", details={"ticket": "OPS-1"})
    entries = assert_consistent(ws, client)
    assert chain(entries) == [("promote", None, "1"), ("promote", "1", "2"), ("promote", "2", "3")]
    assert entries[1]["details"] == {"difference": 0.01, "ci": [0.004, 0.016], "contract_change": False}
    assert entries[1]["run_id"] == "r" * 32 and entries[2]["details"] == {"ticket": "OPS-1"}
    tags = client.get_registered_model(NAME).tags
    assert sorted(k for k in tags if k.startswith("pomona.ledger.")) == [e["id"] for e in entries]
    # The registry is the only copy: nothing is written to a local ledger file.
    assert not (ws.root / "registry" / "ledger.jsonl").exists()


def test_a_long_reason_fits_the_registry_s_tag_column(ws, client):
    entry = registry.move_champion(ws, client, UC, "1", action="promote", reason="x" * 20_000,
                                   details={"note": "y" * 200})
    value = client.get_registered_model(NAME).tags[entry["id"]]
    assert len(value) <= registry.VALUE_LIMIT and json.loads(value)["details"] == {"note": "y" * 200}


def test_rollback_follows_promotions_and_earlier_rollbacks(ws, client):
    for v in ("1", "2", "3"):
        registry.move_champion(ws, client, UC, v, action="promote", reason="gate")
    assert registry.rollback_target(ws, UC) == "2"
    assert registry.rollback(ws, client, UC)["to_version"] == "2"
    assert registry.rollback(ws, client, UC)["to_version"] == "1"
    with pytest.raises(PomonaError, match="no previous champion"):
        registry.rollback(ws, client, UC)
    registry.move_champion(ws, client, UC, "4", action="promote", reason="gate")
    assert registry.rollback(ws, client, UC)["to_version"] == "1"
    assert chain(assert_consistent(ws, client))[-3:] == [("rollback", "2", "1"), ("promote", "1", "4"),
                                                         ("rollback", "4", "1")]


def test_the_old_local_ledger_is_imported_once(ws, client):
    old = ws.root / "registry" / "ledger.jsonl"
    old.parent.mkdir(parents=True, exist_ok=True)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    rows = [{"time": (t0 + timedelta(days=i)).isoformat(), "use_case": uc, "action": "promote",
             "from_version": frm, "to_version": to, "reason": "old", "run_id": None}
            for i, (uc, frm, to) in enumerate([(UC, None, "1"), ("ranking", None, "1"), (UC, "1", "2")])]
    old.write_text("\n".join(json.dumps(r) for r in rows) + '\n{"time": "2025-02-01T00:00:00+00:00", "use_c')
    client.set_registered_model_alias(NAME, "champion", "2")
    entries = registry.history(ws, UC)
    assert chain(entries) == [("promote", None, "1"), ("promote", "1", "2")]
    assert entries[0]["time"].startswith("2025-01-01") and not old.exists()
    assert (old.parent / "ledger.jsonl.imported").exists()
    registry.move_champion(ws, client, UC, "3", action="promote", reason="new")
    assert chain(assert_consistent(ws, client)) == [("promote", None, "1"), ("promote", "1", "2"),
                                                    ("promote", "2", "3")]


@pytest.mark.parametrize("value,why", [('{"time": "2026-01-01T00:00:00+00:00", "act', "invalid JSON"),
                                       ('{"time": "2026-01-01T00:00:00+00:00"}', "missing use_case, action"),
                                       ('[1, 2]', "not a JSON object")])
def test_a_damaged_entry_is_one_clear_error(ws, client, value, why):
    registry.move_champion(ws, client, UC, "1", action="promote", reason="gate")
    key = "pomona.ledger.20260101T000000.000000Z.deadbeef"
    client.set_registered_model_tag(NAME, key, value)
    with pytest.raises(PomonaError) as err:
        registry.history(ws, UC)
    message = str(err.value)
    assert key in message and why in message and "delete_registered_model_tag" in message and "\n" not in message


def test_the_cli_reports_a_damaged_entry_in_one_line(ws, client, capsys):
    from pomona.app.cli import main

    registry.move_champion(ws, client, UC, "1", action="promote", reason="gate")
    registry.move_champion(ws, client, UC, "2", action="promote", reason="gate")
    key = "pomona.ledger.20990101T000000.000000Z.0badc0de"
    client.set_registered_model_tag(NAME, key, '{"half": "writ')
    for args in (["models", "history", UC], ["models", "rollback", UC]):
        assert main(args) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ledger entry " + key) and "Traceback" not in err
    assert str(registry.champion_version(client, UC).version) == "2"  # the rollback did not move the alias
    # The installed command too, in its own process.
    assert_one_line_error(run(["models", "history", UC], ws.root), key, "damaged")


WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from pomona.errors import PomonaError
    from pomona.workspace import workspace
    from training import registry, tracking

    role, moves = sys.argv[1], int(sys.argv[2])
    ws = workspace()
    client = tracking.connect(ws)
    (ws.root / f"ready-{role}").touch()
    deadline = time.time() + 120
    while len(list(ws.root.glob("ready-*"))) < 2 and time.time() < deadline:  # start together
        time.sleep(0.01)
    done = 0
    for i in range(moves):
        time.sleep(0.05 + 0.1 * ((i * 7 + len(role)) % 3))  # outside the lock: let the other process in
        if role == "rollback" and i % 2 == 0:
            try:
                registry.rollback(ws, client, "fraud", reason=f"{role} {i}")
                done += 1
            except PomonaError:
                pass
        else:
            registry.move_champion(ws, client, "fraud", str(1 + (i + len(role)) % 4), action="promote",
                                   reason=f"{role} {i}")
            done += 1
    print(done)
""")


def test_concurrent_promotions_and_rollbacks_keep_alias_and_ledger_consistent(ws, client):
    registry.move_champion(ws, client, UC, "1", action="promote", reason="first")
    env = {**os.environ, "POMONA_HOME": str(ws.root)}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, role, "16"], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for role in ("promote", "rollback")]
    try:
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    entries = assert_consistent(ws, client)
    assert len(entries) == 1 + sum(int(out.strip()) for out, _ in outs)
    roles = [e["reason"].split()[0] for e in entries[1:]]
    switches = sum(a != b for a, b in zip(roles, roles[1:]))
    assert set(roles) == {"promote", "rollback"} and switches >= 2, roles  # the two really interleaved
