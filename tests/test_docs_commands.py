"""Every command shown in the README and docs/ runs, so the docs cannot rot.

Commands are extracted from fenced ``bash``/``sh``/``console``/``cron`` blocks and indented
command lines (inline code in prose names a command; a block shows one to type). Each is normalised the way a reader would type it (a synopsis
``[--opt X]`` dropped, ``a|b|c`` -> ``a``, ``<use-case>`` -> ``fraud``, placeholders filled) and
run at the small scale in temporary workspaces:

* ``pomona ...``: the CLI on a small trained world (``data generate``/``data import``/``demo`` on a
  fresh workspace each); SageMaker commands against moto's AWS emulation (``AWS_ENDPOINT_URL``);
* ``curl``: against ``pomona serve all`` (or the built Bento for ``bentoml serve``) on a free port;
* ``.venv/bin/python benchmarks/...``: with sizes shrunk (``SMOKE``: small scale, few samples,
  short phases), which checks the command, not the figures;
* ``make demo`` runs; ``make test`` is what ``.ci/run`` runs (checked, not re-entered);
* ``mlflow ui``, ``bentoml serve``, ``jupyter execute``: started, answered, stopped.

A command no rule recognises fails the test, naming it: new docs need a rule, not a blind eye.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, SHARED_DATA, free_port, small_world, train_champions
from test_training import FAST

pytestmark = pytest.mark.slow

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent
ROLE = "arn:aws:iam::123456789012:role/pomona-sagemaker"
BUCKET = "pomona-docs"
LEADS = ("pomona ", "make ", ".venv/bin/", "bentoml ", "curl ", "mlflow ", "docker ", "export ")
SMOKE = [  # (pattern, replacement) applied to benchmark commands: the same command, small
    (r"--scale (medium|large)", "--scale small"), (r"--rows \d+", "--rows 4000"), (r"--samples \d+", "--samples 30"),
    (r"--batch-samples \d+", "--batch-samples 5"), (r"--repeats \d+", "--repeats 1"),
    (r"--seconds [\d.]+", "--seconds 0.3"),
]


@dataclass
class Command:
    where: str
    text: str


def extract(path: Path) -> list[Command]:
    lines = path.read_text().splitlines()
    out, fence, i = [], None, 0
    rel = path.relative_to(ROOT)
    while i < len(lines):
        raw = lines[i]
        line = raw.strip() if fence or raw.lstrip().startswith("```") else raw  # fences may sit in a list
        start = i + 1
        if line.startswith("```"):
            fence = None if fence else (line[3:].strip() or "text")
            i += 1
            continue
        text = None
        if fence in ("bash", "sh", "shell"):
            text = line.strip()
        elif fence == "console" and line.startswith("$ "):
            text = line[2:].strip()
        elif fence == "cron" and line and not line.startswith("#"):
            text = line.split(None, 5)[5]
        elif fence is None and line.startswith("    ") and line.strip().startswith(LEADS):
            text = line.strip()
        if text is not None:
            while (text.endswith("\\") or text.count("'") % 2) and i + 1 < len(lines):  # a line or a quote goes on
                i += 1
                text = (text[:-1].rstrip() if text.endswith("\\") else text) + " " + lines[i].strip()
            text = re.sub(r"\s+#\s.*$", "", text).strip()
            if text and not text.startswith("#"):
                out.append(Command(f"{rel}:{start}", text))
        i += 1
    return out


def normalise(text: str) -> str:
    if text.startswith("curl "):  # JSON bodies hold brackets and bars: no synopsis in a curl line
        return text
    text = re.sub(r"^cd \S+ && ", "", text)
    text = re.sub(r"\bPOMONA_CONFIG=configs/production\.yaml ", "", text)  # the embedded profile here
    text = re.sub(r"\s*>>\s*\S+$", "", text)
    while re.search(r"\[[^\[\]]*\]", text):
        text = re.sub(r"\s*\[[^\[\]]*\]", "", text)
    text = re.sub(r"(?<![\w'\"/|])([\w.-]+)(\|[\w.-]+)+(?![\w'\"|])", r"\1", text)
    text = text.replace("<use-case>", "fraud").replace("--role-arn ARN", f"--role-arn {ROLE}")
    text = re.sub(r"--role-arn arn:aws:iam::\d+:role/\S+", f"--role-arn {ROLE}", text)
    text = re.sub(r"--bucket (B|my-models)\b", f"--bucket {BUCKET}", text)
    text = re.sub(r"s3://(B|my-models)/", f"s3://{BUCKET}/", text)
    return text.replace(" ...", "").strip()


# --- the environment the commands run in ---------------------------------------------------------

class Env:
    def __init__(self, tmp: Path, home: Path):
        self.tmp, self.home = tmp, home
        self.vars = {**os.environ, "POMONA_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True",
                     "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "MPLBACKEND": "Agg"}
        self.vars.pop("POMONA_CONFIG", None)
        self.procs: list[subprocess.Popen] = []
        self.server_port: int | None = None
        self.moto = None
        self.redis = None
        self.pending: dict[str, str] = {}
        self.done: set[str] = set()

    def run(self, cmd: str, timeout: float = 600, env: dict | None = None, cwd: Path | None = None,
            ok: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(["bash", "-c", cmd], cwd=cwd or ROOT, env={**self.vars, **(env or {})},
                              capture_output=True, text=True, timeout=timeout)
        if ok and proc.returncode != 0:
            raise AssertionError(f"exit {proc.returncode}: {cmd}\n{(proc.stderr or proc.stdout)[-2000:]}")
        return proc

    def start(self, cmd: str, ready_url: str, env: dict | None = None, timeout: float = 180) -> subprocess.Popen:
        proc = subprocess.Popen(["bash", "-c", f"exec {cmd}"], cwd=ROOT, env={**self.vars, **(env or {})},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(proc)
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert proc.poll() is None, f"exited {proc.returncode}: {cmd}"
            try:
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    return proc
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"not ready in {timeout} s: {cmd}")

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if proc in self.procs:
            self.procs.remove(proc)

    def serve(self) -> int:
        if self.server_port is None:
            self.server_port = free_port()
            self.start(f"pomona serve all --port {self.server_port}", f"http://127.0.0.1:{self.server_port}/readyz")
        return self.server_port

    def aws(self) -> dict:
        """moto's AWS emulation in server mode on loopback, for the SageMaker commands."""
        if self.moto is None:
            import boto3
            from moto.server import ThreadedMotoServer

            self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
            self.moto.start()
            host, port = self.moto.get_host_and_port()
            self.aws_env = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "testing",
                            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}
            s3 = boto3.client("s3", region_name="eu-west-1", endpoint_url=self.aws_env["AWS_ENDPOINT_URL"],
                              aws_access_key_id="testing", aws_secret_access_key="testing")
            s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        return self.aws_env

    def close(self) -> None:
        for proc in list(self.procs):
            self.stop(proc)
        if self.moto is not None:
            self.moto.stop()
        if self.redis is not None:
            self.redis.kill()
            self.redis.wait(10)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("docs")
    home = tmp / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("POMONA_HOME", str(home))
    ws = small_world(home)
    import features
    from features.store import reset_cache

    features.materialize(ws)
    train_champions(ws, tmp, FAST)
    for _ in range(2):  # versions 2 and 3 of fraud, for `pomona models promote fraud 3`
        from training.job import train

        train("fraud", str(tmp / "fraud.yaml"), seed=0, ws=ws)
    rows = features.entity_frame("fraud", ws).drop(columns=["txn_unix", "is_fraud"], errors="ignore").head(500)
    rows.to_parquet(tmp / "rows.parquet")
    e = Env(tmp, home)
    yield e
    e.close()
    reset_cache()
    mp.undo()


# --- the rules ---------------------------------------------------------------------------------------

def run_command(e: Env, cmd: str) -> str:
    """Run one normalised command; returns what was done (for the log)."""
    port = e.server_port
    if cmd.startswith("export "):
        name, _, value = cmd[len("export "):].partition("=")
        value = value.strip("'\"").replace("$POMONA_HOME", str(e.home))
        if name == "REDIS_URL":  # the Redis profile, for real: a redis-server here, the fraud views into it
            from conftest import start_redis

            port = free_port()
            e.redis = start_redis(port, e.tmp)
            value = re.sub(r"^[^,]+", f"127.0.0.1:{port}", value)
            e.run("pomona features materialize fraud", env={"POMONA_CONFIG": e.pending.pop("POMONA_CONFIG"),
                                                           "REDIS_URL": value}, timeout=300)
            return "Redis profile: materialized into a real redis-server"
        if name == "POMONA_CONFIG":
            e.pending[name] = value
            return "noted POMONA_CONFIG (used with REDIS_URL below)"
        e.vars[name] = value
        return f"set {name}"
    if cmd == "make test":
        assert "make test" in (ROOT / ".ci" / "run").read_text()
        return "make test is what .ci/run runs (this suite)"
    if cmd.startswith("make demo") or re.fullmatch(r"(\.venv/bin/)?pomona demo( --scale small)?", cmd):
        return demo_rule(e, cmd)
    if cmd.startswith(("pomona data generate", "pomona data import", "pomona demo")):
        return run_fresh(e, cmd)
    if cmd.startswith("pomona serve"):
        e.serve()
        return "served"
    if cmd.startswith("pomona deploy"):
        aws = e.aws()
        for option, value in (("--role-arn", ROLE), ("--region", "eu-west-1"), ("--bucket", BUCKET)):
            if option not in cmd and not (option == "--role-arn" and "sagemaker-delete" in cmd):
                cmd += f" {option} {value}"  # what the reader put in configs/sagemaker.yaml
        out = e.run(cmd, env=aws, timeout=600).stdout
        assert out.strip()
        return "deploy (moto)"
    if cmd.startswith("pomona score"):
        e.run(cmd.replace("rows.parquet", str(e.tmp / "rows.parquet"))
              .replace("scored.parquet", str(e.tmp / "scored.parquet")))
        return "scored"
    if cmd.startswith(("pomona ", ".venv/bin/pomona ")):
        e.run(cmd.replace(".venv/bin/pomona", "pomona"), timeout=900)
        return "cli"
    if cmd.startswith("curl "):
        e.serve() if port is None else None
        fixed = cmd.replace("localhost:3000", f"127.0.0.1:{e.server_port}")
        out = e.run(fixed).stdout.strip()
        assert out, cmd
        if "/metrics" not in fixed and "/readyz" not in fixed:
            body = json.loads(out)
            assert "model_version" in json.dumps(body) or "error" in body, out[:300]
        return "curl"
    if cmd.startswith(".venv/bin/mlflow ui"):
        p = free_port()
        fixed = re.sub(r"sqlite:///\S+", f"sqlite:///{e.home}/mlflow.db", cmd).replace("--port 5000", f"--port {p}")
        e.stop(e.start(fixed.replace(".venv/bin/", ""), f"http://127.0.0.1:{p}/"))
        return "mlflow ui"
    if cmd.startswith(".venv/bin/jupyter execute"):
        e.run(cmd.replace(".venv/bin/", "") + f" --output {e.tmp / 'executed.ipynb'}", timeout=600)
        return "notebook"
    if cmd.startswith(".venv/bin/python benchmarks/"):
        return run_benchmark(e, cmd)
    if cmd.startswith("bentoml "):
        return run_bentoml(e, cmd)
    if cmd.startswith("BENTOML_HOME="):
        return run_bentoml(e, re.sub(r"^(\S+=\S+ )+", "", cmd))
    if cmd.startswith("docker "):
        if container_engine():
            pytest.fail("a container engine runs here: give `docker run` a rule")
        return "docker run: no running container engine on this machine (documented in docs/serving.md)"
    raise AssertionError(f"no rule runs this documented command: {cmd}")


def demo_rule(e: Env, cmd: str) -> str:
    """``make demo`` is make's recipe (the install step is CI's own) and ``pomona demo [--scale
    small]`` that recipe's command (small is the default scale). That exact command runs, start to
    end, in tests/test_cli.py::test_demo_runs_the_whole_path: once per suite, as it is the suite's
    longest single command."""
    import test_cli

    recipe = [line for line in e.run("make -n demo").stdout.splitlines() if "pomona demo" in line][-1]
    assert recipe.endswith("pomona demo --scale small"), recipe
    assert '["demo", "--scale", "small"]' in Path(test_cli.__file__).read_text()
    from pomona.app.cli import demo

    assert demo.__defaults__[0].default.value == "small"  # `pomona demo` is `pomona demo --scale small`
    e.done.add("pomona demo")
    return f"{cmd}: {recipe} (run by test_cli)"


def container_engine() -> bool:
    """Whether a container engine answers here (a docker CLI without a daemon does not)."""
    for tool in ("docker", "podman"):
        if shutil.which(tool) and subprocess.run([tool, "info"], capture_output=True, timeout=60).returncode == 0:
            return True
    return False


def run_fresh(e: Env, cmd: str) -> str:
    home = e.tmp / f"fresh-{abs(hash(cmd)) % 10**8}"
    if "creditcard.csv" in cmd:
        from test_importers import write_creditcard

        path = write_creditcard(e.tmp / "creditcard", n=40)
        cmd = cmd.replace("creditcard.csv", str(path)) + " --no-checksum"
    match = re.search(r"--path (\.\./shared/data/\S+)", cmd)
    if match:
        data = SHARED_DATA / match.group(1).removeprefix("../shared/data/")
        if not data.exists():
            pytest.skip(f"real dataset not available at {data}")
        cmd = cmd.replace(match.group(1), str(data))
    e.run(cmd, env={"POMONA_HOME": str(home)}, timeout=900)
    return "fresh workspace"


def run_benchmark(e: Env, cmd: str) -> str:
    for pattern, repl in SMOKE:
        cmd = re.sub(pattern, repl, cmd)
    cmd = re.sub(r"--(dir|home) /tmp/\S+", lambda m: f"--{m.group(1)} {e.tmp / ('bench-' + m.group(1))}", cmd)
    cmd = cmd.replace("--out /tmp/pomona-bench/results.json", f"--out {e.tmp / 'results.json'}")
    script = cmd.split()[1]
    if script.endswith("batch_bench.py"):  # the docs' trained world instead of a new medium one
        cmd = re.sub(r"--home \S+", f"--home {e.home}", cmd)
    if script.endswith(("train_bench.py", "data_signal.py")):
        cmd += f" --home {e.home}"
    if script.endswith("train_bench.py"):  # the two LightGBM use cases its second table times
        cmd += " --only fraud,ranking"
    if script.endswith("features_bench.py"):
        cmd += " --frame-rows 20000 --profile-calls 0" + ("" if "gen" in cmd else f" --home {e.home}")
    if script.endswith("tune_defaults.py"):  # the synthetic world, two grid points (the real sets: real_data.py)
        cmd = re.sub(r"tune_defaults\.py \S+", "tune_defaults.py synthetic --scale small --limit 2", cmd)
    if script.endswith(("real_data.py", "forecast_validation.py")) and not SHARED_DATA.exists():
        pytest.skip(f"real datasets not available at {SHARED_DATA}")
    if script.endswith("real_data.py"):  # one small dataset (a shifted study: the smallest forecasting one)
        cmd = re.sub(r" --only \S+", "", cmd) + (" --only m3q" if "--shift" in cmd else " --only movielens")
    if script.endswith("forecast_validation.py"):  # one window, two fast candidates, M3 Yearly
        cmd = (f"{cmd.split()[0]} {script} {SHARED_DATA / 'forecasting' / 'm3-yearly'} --windows 1 "
               """--candidates '{"seasonal_naive": {}, "dynamic_theta": {}}'""")
    out = e.run(cmd.replace(".venv/bin/python", sys.executable), timeout=900).stdout
    assert "|" in out, f"{cmd} printed no table:\n{out[-1500:]}"
    return "benchmark (small)"


def run_bentoml(e: Env, cmd: str) -> str:
    bento_home = e.home / "bentoml"
    if not (bento_home / "bentos").exists():
        e.run("pomona build fraud", timeout=900)
    env = {"BENTOML_HOME": str(bento_home)}
    if cmd.startswith("bentoml serve"):
        p = free_port()
        e.stop(e.start(cmd.replace("--port 3000", f"--port {p}"), f"http://127.0.0.1:{p}/readyz", env=env))
        return "bentoml serve"
    if cmd.startswith("bentoml containerize"):
        proc = e.run(cmd, env=env, ok=False, timeout=600)
        if container_engine():
            assert proc.returncode == 0, proc.stderr[-2000:]
            return "containerized"
        assert proc.returncode != 0 and "containerize" in proc.stderr, proc.stderr[-2000:]
        return "bentoml containerize: no running container engine on this machine (documented)"
    e.run(cmd, env=env)
    return "bentoml"


# --- the tests ---------------------------------------------------------------------------------------

ALL = [(p, c) for p in DOCS for c in extract(p)]


def test_commands_are_found():
    where = {c.where.split(":")[0] for _, c in ALL}
    assert {"README.md", "docs/benchmarks.md", "docs/serving.md", "docs/deploy.md", "docs/operations.md"} <= where
    assert len(ALL) > 40


BENCHMARK_DOCS = ("benchmarks.md", "serving_benchmarks.md")  # run by tests/test_docs_benchmarks.py


def run_documents(env: Env, docs: list[Path]) -> None:
    """Run every command of ``docs`` in order (one trained world, one server, one moto)."""
    done = []
    for command in (c for doc in docs for c in extract(doc)):
        cmd = normalise(command.text)
        started = time.monotonic()
        key = re.sub(r" --out \S+", "", cmd)  # a benchmark run that also saves its results: the same run
        key = re.sub(r"^\.venv/bin/pomona ", "pomona ", key)
        if key.startswith("pomona train "):  # --json prints the same job's result as JSON (tests/test_training.py)
            key = key.replace(" --json", "")
        if key in env.done and not cmd.startswith(("curl ", "export ")):
            done.append(f"{command.where} ran above: {cmd[:100]}")
            continue
        try:
            what = run_command(env, cmd)
        except AssertionError as exc:
            raise AssertionError(f"{command.where}: {command.text}\n{exc}") from None
        except pytest.skip.Exception as exc:  # a real dataset that is absent: this command only
            what = f"NOT RUN ({exc})"
        env.done.add(key)
        done.append(f"{command.where} {time.monotonic() - started:5.1f}s {what}: {cmd[:100]}")
        print(done[-1], flush=True)


def test_documented_commands_run(env):
    """The README and every document but the benchmark ones (those: test_docs_benchmarks.py,
    so that the two halves run on both workers)."""
    run_documents(env, [p for p in DOCS if p.name not in BENCHMARK_DOCS])
