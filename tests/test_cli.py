"""The real CLI in subprocesses: the whole foundation path, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

POMONA = str(Path(sys.executable).parent / "pomona")


def run(args: list[str], home: Path, timeout: int = 300, **env) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "POMONA_HOME": str(home), **env}
    return subprocess.run([POMONA, *args], capture_output=True, text=True, env=full_env, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_generate_apply_materialize_lookup(tmp_path):
    home = tmp_path / "home"
    assert run(["data", "generate", "--scale", "small", "--seed", "3"], home).returncode == 0
    proc = run(["features", "apply"], home)
    assert proc.returncode == 0, proc.stderr
    assert "fraud_v1" in proc.stdout and "forecasting_v1" in proc.stdout
    proc = run(["features", "materialize"], home)
    assert proc.returncode == 0, proc.stderr
    assert (home / "feast" / "online.db").stat().st_size > 0
    listed = json.loads(run(["features", "list", "--json"], home).stdout)
    services = {d["name"]: d for d in listed if d["kind"] == "service"}
    assert set(services) == {"recommendations_v1", "ranking_v1", "fraud_v1", "forecasting_v1"}
    assert all(len(d["fingerprint"]) == 16 for d in services.values())
    proc = run(["features", "online", "recommendations", "-e", "user_id=1", "-e", "product_id=1"], home)
    assert proc.returncode == 0, proc.stderr
    vec = json.loads(proc.stdout)
    assert vec["user_id"] == 1 and "product_events_30d" in vec and vec["category"]
    # Everything lives under POMONA_HOME.
    assert {p.name for p in home.iterdir()} >= {"data", "features", "feast"}


@pytest.mark.slow
def test_demo_runs_the_whole_path(tmp_path):
    proc = run(["demo", "--scale", "small"], tmp_path / "home", timeout=600)  # the 10-minute bound
    assert proc.returncode == 0, proc.stderr
    for step in ("1/5", "2/5", "3/5", "4/5", "5/5", "recommendations_v1", "leaderboard", "mlflow ui"):
        assert step in proc.stdout
    assert proc.stdout.count("-> champion v") == 4  # a champion per use case on the leaderboard


@pytest.mark.parametrize("args,needles", [
    (["features", "online", "nope", "-e", "a=1"], ["'nope' is not one of"]),
    (["data", "generate", "--scale", "huge"], ["huge"]),
    (["data", "import", "no-such-set", "--path", "."], ["unknown dataset", "movielens-100k"]),
    (["features", "apply"], ["no data", "pomona data generate"]),
    (["features", "materialize", "--end", "yesterday-ish"], ["--end", "not a time"]),
    (["features", "online", "fraud", "-e", "account_id"], ["key=value"]),
])
def test_bad_input_is_one_line(tmp_path, args, needles):
    home = tmp_path / "home"
    if args[:2] == ["features", "materialize"]:
        assert run(["data", "generate"], home).returncode == 0
        assert run(["features", "apply"], home).returncode == 0
    assert_one_line_error(run(args, home), *needles)


def test_unwritable_home_is_one_line_and_writes_nothing(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = run(["data", "generate"], blocker / "home")
    assert_one_line_error(proc, "not writable")
    assert blocker.read_text() == "not a folder"


def test_generate_refuses_to_overwrite_without_force(tmp_path):
    home = tmp_path / "home"
    assert run(["data", "generate", "--seed", "1"], home).returncode == 0
    before = (home / "data" / "fraud" / "manifest.json").read_text()
    assert_one_line_error(run(["data", "generate", "--seed", "2"], home), "--force")
    assert (home / "data" / "fraud" / "manifest.json").read_text() == before
    assert run(["data", "generate", "--seed", "2", "--force"], home).returncode == 0
    assert (home / "data" / "fraud" / "manifest.json").read_text() != before


def test_config_with_unknown_key_is_rejected(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((Path(__file__).parents[1] / "configs" / "workspace.yaml").read_text()
                   + "\nmlflw:\n  tracking_uri: x\n")
    home = tmp_path / "home"
    assert run(["data", "generate"], home).returncode == 0
    assert_one_line_error(run(["--config", str(bad), "features", "apply"], home), "mlflw")


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(home, monkeypatch, capsys):
    import pomona.data.importers as importers
    from pomona.app.cli import main

    def broken():
        raise RuntimeError("formats table exploded\nsecond line of detail")

    monkeypatch.setattr(importers, "importers", broken)
    monkeypatch.delenv("POMONA_DEBUG", raising=False)
    assert main(["data", "formats"]) == 1
    err = capsys.readouterr().err
    assert err == ("error: unexpected RuntimeError: formats table exploded; "
                   "rerun with --debug for the traceback\n")
    assert main(["--debug", "data", "formats"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and "RuntimeError: formats table exploded" in err
    assert main(["data", "formats"]) == 1 and "Traceback" not in capsys.readouterr().err  # --debug does not stick
    monkeypatch.setenv("POMONA_DEBUG", "1")
    assert main(["data", "formats"]) == 1 and "Traceback" in capsys.readouterr().err


def test_an_unexpected_error_in_a_process_of_its_own_is_one_line(tmp_path):
    # The console script's path (sys.exit(main())) in a fresh process: nothing else reaches stderr.
    code = ("import sys; import pomona.data.importers as m; from pomona.app.cli import main; "
            "m.importers = lambda: 1 / 0; sys.exit(main(sys.argv[1:]))")
    env = {**os.environ, "POMONA_HOME": str(tmp_path / "home")}
    env.pop("POMONA_DEBUG", None)
    proc = subprocess.run([sys.executable, "-c", code, "data", "formats"], capture_output=True, text=True, env=env,
                          timeout=300)
    assert_one_line_error(proc, "unexpected ZeroDivisionError: division by zero", "--debug")
    assert proc.returncode == 1


@pytest.mark.parametrize("flag,accepted", [([], False), (["--accept-contract-change"], True)])
def test_train_passes_accept_contract_change(home, monkeypatch, capsys, flag, accepted):
    import training.job
    from pomona.app.cli import main

    seen = {}

    class Result:
        def to_json(self):
            return {"promoted": accepted}

    def fake_train(use_case, config, **kwargs):
        seen.update(kwargs, use_case=use_case)
        return Result()

    monkeypatch.setattr(training.job, "train", fake_train)
    assert main(["train", "fraud", "--json", *flag]) == 0
    assert seen["use_case"] == "fraud" and seen["accept_contract_change"] is accepted
    assert json.loads(capsys.readouterr().out) == {"promoted": accepted}
