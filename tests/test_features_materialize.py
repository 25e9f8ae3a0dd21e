"""``materialize`` on a FeatureService with nothing to load: an imported fraud dataset whose
features all come with the request (creditcard-fraud, vehicle-insurance-fraud) goes through
import -> apply -> materialize and says why nothing was written; before apply it is an error."""

from __future__ import annotations

import pytest
from test_cli import assert_one_line_error, run
from test_importers import NO_MD5, write_creditcard, write_vehicle

import features
from pomona.data.importers import import_dataset
from pomona.errors import PomonaError


@pytest.mark.parametrize("dataset", ["creditcard-fraud", "vehicle-insurance-fraud"])
def test_request_features_only_materialize_with_a_reason(ws, tmp_path, dataset):
    path = write_creditcard(tmp_path / "cc", n=40) if dataset == "creditcard-fraud" else write_vehicle(tmp_path / "v")
    import_dataset(ws, dataset, path, **({} if dataset == "creditcard-fraud" else NO_MD5))
    with pytest.raises(PomonaError, match="nothing to materialize; run 'pomona features apply' first"):
        features.materialize(ws)
    defs = features.apply(ws)
    assert [p.name for p in defs["fraud"].service.feature_view_projections] == ["fraud_transaction_features"]
    out = features.materialize(ws)
    assert out["views"] == [] and out["source_rows"] == 0 and out["start"] is None
    assert "fraud_v1 has no feature view to load (its features come with the request)" in out["skipped"]["fraud"]
    with pytest.raises(PomonaError, match=r"not applied: ranking"):
        features.materialize(ws, use_cases=["fraud", "ranking"])


def test_the_cli_says_why_nothing_was_written(tmp_path):
    home = tmp_path / "home"
    proc = run(["data", "import", "creditcard-fraud", "--path", str(write_creditcard(tmp_path / "cc", n=40)),
                "--no-checksum"], home)
    assert proc.returncode == 0, proc.stderr
    assert_one_line_error(run(["features", "materialize"], home), "run 'pomona features apply' first")
    assert run(["features", "apply"], home).returncode == 0
    proc = run(["features", "materialize"], home)
    assert proc.returncode == 0, proc.stderr
    assert "fraud: nothing to write to the online store: fraud_v1 has no feature view to load" in proc.stdout
