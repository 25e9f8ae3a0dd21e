"""``serve(use_case, port, ws)``: check the champions, then run the BentoML server.

The champions are loaded and their feature contracts checked here first, so a missing
champion or a mismatched model stops ``pomona serve`` with one line and exit code 1 before
any server starts. ``python -m serving.cli fraud --port 3000`` does the same without the
``pomona`` CLI.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from pomona.errors import PomonaError
from pomona.usecases import check_use_case, use_cases
from pomona.workspace import Workspace, workspace
from serving import ALL, service_name

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


def use_cases_for(name: str) -> tuple[str, ...]:
    return use_cases() if name == ALL else (check_use_case(name),)


def check(use_case: str, ws: Workspace) -> dict[str, str]:
    """Load each champion and check its feature contract; ``{use case: version}``."""
    from serving import runtime

    return {uc: runtime.load_version(uc, ws).version for uc in use_cases_for(use_case)}


def serve(use_case: str, port: int = 3000, ws: Workspace | None = None, host: str | None = None) -> int:
    """Serve ``use_case`` (or ``"all"``) on ``host:port`` until interrupted; the exit code.

    Raises :class:`PomonaError` (one line) when a champion is missing or breaks the contract.
    """
    ws = ws or workspace()
    if not 0 < int(port) < 65536:
        raise PomonaError(f"--port must be between 1 and 65535, got {port}")
    versions = check(use_case, ws)
    print("serving " + ", ".join(f"{uc} v{v}" for uc, v in versions.items())
          + f" on http://{host or HOST}:{port}", file=sys.stderr, flush=True)
    bentoml = Path(sys.executable).with_name("bentoml")
    cmd = [str(bentoml)] if bentoml.exists() else [sys.executable, "-m", "bentoml"]
    cmd += ["serve", f"serving.service:{service_name(use_case)}", "--working-dir", str(ROOT),
            "--host", host or os.environ.get("POMONA_SERVE_HOST", HOST), "--port", str(port)]
    env = {**os.environ, "POMONA_HOME": str(ws.root), "BENTOML_DO_NOT_TRACK": "True"}
    try:
        return subprocess.run(cmd, env=env, cwd=ROOT).returncode
    except KeyboardInterrupt:
        return 130


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.cli", description=serve.__doc__)
    parser.add_argument("use_case", choices=[*use_cases(), ALL])
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args(argv)
    try:
        return serve(args.use_case, args.port)
    except PomonaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
