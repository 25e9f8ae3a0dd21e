"""POST /forecast: the champion's forecast of one series for ``horizon`` steps.

A forecaster's state is its history (learned at fit), so the request names the series only:
``series_id``, or ``store_id`` and ``product_id`` for the synthetic marketplace, whose series
are ``"<store_id>-<product_id>"``.

The forecast starts one step after the series' last timestamp the model was fit on (the
registered model is refit on every row, so: after its last observation).

Future exogenous inputs (``price``, ``promo``, ``is_holiday`` in the synthetic data, the
columns of the ``forecasting_calendar`` view) are needed for every forecast step, and each is
declared at training (``known_in_advance`` in the config, kept in the model's parameters):
a column known in advance comes from the request's ``plan`` (one object per step: a price or
promotion plan); every other is carried forward from the series' **last known value in the
offline data** at the model's last timestamp ("no announced change"; the online store cannot
give future values: the calendar view's TTL is one step), read once per model version. The
frame is built by :func:`models.forecasting.future_inputs`, the function the training
backtest uses, so a backtest sees exactly what serving answers with. A series the model was not fit on gets ``cold_start: true`` and
the per-step mean forecast over all known series (dates continue from the latest series end).
"""

from __future__ import annotations

import time
from typing import Annotated, Any, ClassVar, Optional

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from pandas.tseries.frequencies import to_offset
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from models.forecasting import future_inputs, last_values
from models.scoring import score
from pomona.data.writer import read_manifest
from pomona.errors import PomonaError
from pomona.schemas import PRODUCT_ID, SERIES_ID, STORE_ID, TS
from pomona.workspace import Workspace
from serving import runtime
from serving.batch.scorers import Scorer, attach
from serving.errors import RequestError
from serving.schema import Int64, RequestSpec
from serving.schema import request_model as derived

SERIES_PARTS = (STORE_ID, PRODUCT_ID)  # the synthetic marketplace's series are store-product pairs
MAX_HORIZON = 10_000  # a bound for the request model; each model's own maximum is checked too


SeriesKey = Annotated[str, Field(max_length=200)]


class ForecastRequest(BaseModel):
    """``horizon`` plus, derived by :func:`request_model`, the FeatureService's series key
    (``series_id``) and, where the dataset's series are store-product pairs (the synthetic
    marketplace), ``store_id`` and ``product_id`` as the other way to name one."""

    model_config = ConfigDict(extra="forbid")
    series_parts: ClassVar[tuple[str, ...]] = ()
    horizon: int = Field(ge=1, le=MAX_HORIZON)
    # Values of the inputs the model declares known in advance, one object per forecast step.
    plan: Optional[list[dict[str, float]]] = Field(None, max_length=MAX_HORIZON)

    @model_validator(mode="after")
    def _one_series(self):
        parts = type(self).series_parts
        if getattr(self, SERIES_ID, None) is None and (not parts or any(getattr(self, p) is None for p in parts)):
            raise ValueError(f"{SERIES_ID}: send {SERIES_ID}" + (f", or {' and '.join(parts)}" if parts else ""))
        return self


def _series_parts(model: type[BaseModel], schema: dict[str, str], ws: Workspace) -> type[BaseModel]:
    """Add ``store_id``/``product_id`` where the demand table names each series by them."""
    try:
        names = set(pq.read_schema(_demand_path(ws)).names)
    except Exception:  # no dataset yet (rendering the API document): the synthetic marketplace's shape
        names = set(SERIES_PARTS)
    if not set(SERIES_PARTS) <= names:  # the series key is the only way to name a series
        return create_model(model.__name__, __base__=model, **{SERIES_ID: (SeriesKey, ...)})
    extra = {c: (Optional[Int64], None) for c in SERIES_PARTS if c not in model.model_fields}
    derived_model = create_model(model.__name__, __base__=model, **extra)
    derived_model.series_parts = SERIES_PARTS
    return derived_model


REQUEST = RequestSpec("forecasting", "ForecastRequest", ForecastRequest,
                      fallback={SERIES_ID: "String", STORE_ID: "Int64"}, extend=_series_parts,
                      rules={SERIES_ID: SeriesKey})


def request_model(ws: Workspace) -> type[BaseModel]:
    return derived(REQUEST, ws)


def _demand_path(ws: Workspace):
    return ws.dataset_dir("forecasting") / read_manifest(ws, "forecasting").tables["demand"].file


class Step(BaseModel):
    date: str
    yhat: float
    yhat_lower: float
    yhat_upper: float


class ForecastResponse(BaseModel):
    forecast: list[Step]
    model_version: str
    cold_start: bool


ROUTE = "forecast"
Response = ForecastResponse
PACKAGE_DATA = True  # a SageMaker model carries the dataset: prepare reads the last known inputs


def prepare(bundle, ws: Workspace) -> dict:
    """Each series' last known exogenous values (offline data, at or before the model's last
    timestamp of the series) and the ids of the fitted series, for every version once."""
    est = bundle.estimator
    runtime.single_threaded(*(est.boosters() if hasattr(est, "boosters") else ()))  # global models, members
    exog = list(getattr(est, "exog_", []) or [])
    state = {"exog": exog, "known": list(bundle.params.get("known_in_advance", ()) or ()), "last_exog": None,
             "cold": {}, "series_of": {}, "series": frozenset(pd.Series(est.series_).astype(str))}
    path = _demand_path(ws)
    names = pq.read_schema(path).names
    parts = [c for c in SERIES_PARTS if c in names]
    have = [c for c in exog if c in names]
    demand = pd.read_parquet(path, columns=[SERIES_ID, TS, *have, *parts])
    if len(parts) == len(SERIES_PARTS):
        pairs = demand[[*parts, SERIES_ID]].drop_duplicates(parts)
        state["series_of"] = {tuple(k): str(s) for *k, s in pairs.itertuples(index=False)}
    if have:
        ends = pd.Series(np.asarray(est.last_timestamp_), index=pd.Index(np.asarray(est.series_)).astype(str))
        state["last_exog"] = last_values(demand, have, until=ends)
    return state


def handle(request: BaseModel, champion: runtime.Champion, ws: Workspace) -> ForecastResponse:
    m = champion.current
    est = m.bundle.estimator
    limit = getattr(est, "max_horizon_", None)
    if limit is not None and request.horizon > limit:
        raise RequestError("horizon", f"{request.horizon} is past this model's maximum of {limit} steps")
    series = getattr(request, SERIES_ID, None)
    if series is None:
        key = tuple(getattr(request, c) for c in SERIES_PARTS)
        series = m.state.get("series_of", {}).get(key, "-".join(map(str, key)))
    plan = getattr(request, "plan", None)
    if plan is not None and len(plan) != request.horizon:
        raise RequestError("plan", f"{len(plan)} steps given; send one object per forecast step ({request.horizon})")
    try:
        if series in m.state["series"]:
            out = score(m.bundle, _future(m, est, [series], request.horizon, plan), horizon=request.horizon)
            cold = False
        else:
            out, cold = _cold(m, est, request.horizon, plan), True
    except ValueError as exc:  # a known-in-advance input without its plan
        raise RequestError("plan", str(exc)) from None
    steps = [Step(date=pd.Timestamp(t).isoformat(), yhat=float(y), yhat_lower=float(lo), yhat_upper=float(hi))
             for t, y, lo, hi in zip(out[TS], out["yhat"], out["yhat_lower"], out["yhat_upper"])]
    return ForecastResponse(forecast=steps, model_version=m.version, cold_start=cold)


def _future(m: runtime.Loaded, est, series: list[str], horizon: int, plan: list[dict] | None = None) -> pd.DataFrame:
    """Rows (series_id, event_timestamp, exog...) for steps 1..horizon of each series, built by
    the function the training backtest uses (a ``plan`` applies to every series, by step)."""
    frame = None
    if plan is not None and m.state.get("exog"):
        frame = est.future_index(horizon, series).reset_index(drop=True)
        values = pd.DataFrame(plan * len(series)).reindex(columns=m.state["known"])
        frame = pd.concat([frame, values], axis=1)
    return future_inputs(est, series, horizon, m.state.get("last_exog"), m.state.get("known", ()), frame)


def _cold(m: runtime.Loaded, est, horizon: int, plan: list[dict] | None = None) -> pd.DataFrame:
    """The per-step mean forecast over all known series (cached per version and horizon)."""
    cache = m.state.setdefault("cold", {})
    if plan is not None or horizon not in cache:
        series = [str(s) for s in est.series_]
        fc = score(m.bundle, _future(m, est, series, horizon, plan), horizon=horizon)
        fc["step"] = fc.groupby(SERIES_ID, sort=False).cumcount()
        mean = fc.groupby("step")[["yhat", "yhat_lower", "yhat_upper"]].mean()
        start = pd.Timestamp(pd.Series(est.last_timestamp_.to_numpy()).max())
        offset = to_offset(est.freq)
        mean[TS] = [start + offset * (k + 1) for k in mean.index]
        if plan is not None:
            return mean.reset_index(drop=True)
        cache[horizon] = mean.reset_index(drop=True)
    return cache[horizon]


def sample_request(base: dict[str, Any], rows: pd.DataFrame) -> dict[str, Any]:
    return {**{k: v for k, v in base.items() if k == SERIES_ID}, "horizon": 3}


class BatchScorer(Scorer):
    """``series_id, event_timestamp`` rows (and the model's exogenous columns) get ``yhat,
    yhat_lower, yhat_upper`` for those steps. A forecast needs every step up to the furthest one
    asked, so the input is read whole (it is at most series x max horizon)."""

    whole = True

    @classmethod
    def build(cls, use_case, model, ws) -> BatchScorer:
        exog = list(getattr(model.bundle.estimator, "exog_", None) or [])
        return cls(use_case, model, ws, {SERIES_ID: "String", **{c: "Float64" for c in exog}}, {SERIES_ID},
                   [SERIES_ID, TS, *exog])

    def score_rows(self, chunk: pd.DataFrame, timings: dict) -> pd.DataFrame:
        """``yhat`` and the interval for each (series, step) row; every row must be a forecast step."""
        t = time.perf_counter()
        est = self.model.bundle.estimator
        steps = _forecast_steps(est, chunk)
        fc = self.predict(chunk, horizon=int(steps.max()))
        fc = fc.assign(**{SERIES_ID: fc[SERIES_ID].astype(str), TS: pd.to_datetime(fc[TS], utc=True)
                          .astype("datetime64[ns, UTC]")})
        timings["score"] += time.perf_counter() - t
        pred = chunk[[SERIES_ID, TS]].merge(fc, on=[SERIES_ID, TS], how="left", validate="many_to_one")
        return attach(chunk, pred.drop(columns=[SERIES_ID, TS]))


def _forecast_steps(est, chunk: pd.DataFrame) -> np.ndarray:
    """For each row, which step after its series' last training time it is (1..max horizon)."""
    last = pd.Series(pd.to_datetime(np.asarray(est.last_timestamp_), utc=True),
                     index=pd.Index(np.asarray(est.series_)).astype(str))
    limit = int(est.max_horizon_ or 10_000)
    steps = np.zeros(len(chunk), dtype="int64")
    for sid, rows in chunk.groupby(SERIES_ID, sort=False).indices.items():
        if sid not in last.index:
            raise PomonaError(f"input row {int(rows[0]) + 1}: series {sid!r} is unknown to the model")
        start = last[sid].tz_convert(None)
        grid = pd.date_range(start, periods=limit + 1, freq=est.freq)[1:].tz_localize("UTC")
        pos = grid.get_indexer(pd.DatetimeIndex(chunk[TS].iloc[rows]))
        if (pos < 0).any():
            i = int(rows[np.flatnonzero(pos < 0)[0]])
            raise PomonaError(f"input row {i + 1}: {chunk[TS].iloc[i]} is not one of the {limit} forecast steps "
                              f"of series {sid!r} after its last training time {last[sid]} (frequency {est.freq})")
        steps[rows] = pos + 1
    return steps
