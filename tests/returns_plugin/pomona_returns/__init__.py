"""A fifth use case from outside Pomona: will a purchase be returned?

Registered through the ``pomona.use_cases`` entry point (``returns = pomona_returns:RETURNS``),
so no file of Pomona changes. ``tests/test_plugin_use_case.py`` runs it end to end.
"""

from pathlib import Path

from pomona.usecases import UseCase

RETURNS = UseCase(
    "returns",
    {layer: f"pomona_returns.{layer}" for layer in ("data", "features", "models", "training", "serving")},
    Path(__file__).with_name("returns.yaml"),
    "the probability that an order is returned",
)
