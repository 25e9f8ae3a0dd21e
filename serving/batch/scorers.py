"""Scoring one chunk of batch input: what a use case needs from each row and how its predictions
join back to the rows.

:class:`RowScorer` is the default: one prediction per row, on point-in-time features of the use
case's FeatureService from the offline store (:func:`features.training_frame`, the call training
uses). A use case whose rows work differently declares ``BatchScorer`` (a :class:`Scorer`
subclass) in its serving module: a recommender returns several rows per input row, a
forecaster needs every step up to the furthest one asked.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from models.scoring import score
from pomona.errors import PomonaError
from pomona.schemas import TS
from pomona.usecases import feature_service_name
from pomona.workspace import Workspace
from serving.batch.io import coerce, parse_times
from training.registry import LoadedModel

VERSION_COLUMN = "model_version"
ROW = "_pomona_row"  # input position, carried through the point-in-time join to restore order


class Scorer:
    """Validates a chunk against what the use case needs, then scores it.

    ``schema``: the columns the caller provides, with Feast types; ``keys``: the entity keys
    among them (never missing); ``required``: the columns every row must have; ``whole``: the
    input is scored in one piece (no chunks)."""

    whole = False
    what = "input"

    def __init__(self, use_case: str, model: LoadedModel, ws: Workspace, schema: dict[str, str], keys: set[str],
                 required: list[str]):
        self.use_case, self.model, self.ws = use_case, model, ws
        self.schema, self.keys, self.required = schema, keys, required

    def validate(self, chunk: pd.DataFrame, offset: int) -> pd.DataFrame:
        missing = [c for c in self.required if c not in chunk.columns]
        if missing:
            service = feature_service_name(self.use_case)
            raise PomonaError(f"input lacks column(s) {', '.join(missing)} (a {self.use_case} row needs "
                              f"{', '.join(self.required)} for {service})")
        if ROW in chunk.columns or VERSION_COLUMN in chunk.columns:
            raise PomonaError(f"input has a reserved column ({ROW} or {VERSION_COLUMN}); rename it")
        chunk = coerce(chunk.reset_index(drop=True), self.schema, self.keys, self.what, offset)
        if TS in chunk.columns:
            chunk[TS] = parse_times(chunk[TS], self.what, offset)
        return chunk

    def score_chunk(self, chunk: pd.DataFrame, offset: int, timings: dict) -> pd.DataFrame:
        """The chunk's rows (``event_timestamp`` as UTC) with the predictions and ``model_version``."""
        out = self.score_rows(self.validate(chunk, offset), timings)
        out[VERSION_COLUMN] = np.int64(int(self.model.version))
        return out

    def score_rows(self, chunk: pd.DataFrame, timings: dict) -> pd.DataFrame:
        raise NotImplementedError

    def predict(self, frame: pd.DataFrame, **params) -> pd.DataFrame:
        try:
            return score(self.model.bundle, frame, **params)
        except ValueError as exc:  # the models' own input checks (unknown series, a horizon too far...)
            raise PomonaError(f"{self.use_case} model version {self.model.version} refused the input: "
                              f"{str(exc).splitlines()[0]}") from None


class RowScorer(Scorer):
    """One prediction per row: point-in-time features of the FeatureService, then the model.

    ``before_event``: score each row on the features just before its time (a transaction against
    the state before it, as in training); ``derived``: request fields computed from the row
    (column -> function of the validated chunk), used when the input lacks them."""

    before_event = pd.Timedelta(0)
    derived: dict = {}

    @classmethod
    def build(cls, use_case: str, model: LoadedModel, ws: Workspace) -> RowScorer:
        import features

        schema = features.request_schema(use_case, ws)
        join_keys = features.join_keys(ws)
        required = [c for c in schema if c not in cls.derived] + [TS]
        return cls(use_case, model, ws, schema, {k for k in schema if k in join_keys}, required)

    def score_rows(self, chunk: pd.DataFrame, timings: dict) -> pd.DataFrame:
        import features

        t = time.perf_counter()
        entity = chunk[[c for c in self.schema if c in chunk.columns] + [TS]].copy()
        for col, make in self.derived.items():
            if col in self.schema and col not in chunk.columns:
                entity[col] = make(chunk)
        entity[TS] = chunk[TS] - self.before_event
        entity[ROW] = np.arange(len(entity))
        frame = features.training_frame(self.use_case, entity, self.ws)
        frame = frame.sort_values(ROW, kind="stable").reset_index(drop=True)
        if len(frame) != len(chunk) or not np.array_equal(frame[ROW].to_numpy(), entity[ROW].to_numpy()):
            raise PomonaError(f"the feature join returned {len(frame):,} rows for {len(chunk):,} input rows")
        timings["join"] += time.perf_counter() - t
        t = time.perf_counter()
        pred = self.predict(frame.drop(columns=[ROW]))
        timings["score"] += time.perf_counter() - t
        return attach(chunk, pred.reset_index(drop=True))


def check_names(chunk: pd.DataFrame, names) -> None:
    clash = [c for c in names if c in chunk.columns]
    if clash:
        raise PomonaError(f"input column(s) {', '.join(clash)} collide with the prediction columns; "
                          f"rename or drop them")


def attach(chunk: pd.DataFrame, pred: pd.DataFrame) -> pd.DataFrame:
    check_names(chunk, pred.columns)
    return pd.concat([chunk, pred], axis=1)
