"""The benchmark commands of docs/benchmarks.md and docs/serving_benchmarks.md run, at the small
scale (the rules are in test_docs_commands.py; a module of its own so it runs beside the rest)."""

from __future__ import annotations

import pytest
from test_docs_commands import BENCHMARK_DOCS, DOCS, env, run_documents  # noqa: F401  (env: the fixture)

pytestmark = pytest.mark.slow


def test_documented_benchmarks_run(env):  # noqa: F811
    run_documents(env, [p for p in DOCS if p.name in BENCHMARK_DOCS])
