"""The batched variant of ``/rank`` and ``/score_transaction``, for the adaptive-batching
measurement of ``benchmarks/serving_bench.py --batching`` (issue 4, point 5).

BentoML's adaptive batching (``batchable=True``) merges concurrent requests into one call of
the API with a list; a request body is then a JSON *list* of inputs. Each batched call here
makes one online-store read and one model call for the whole batch (the per-call costs that
batching can save), then answers each request as the unbatched endpoint would:

* rank: the candidates of every request in one ``online_features`` call and one ``score``;
* score_transaction: the features of every transaction in one read and one ``score``, then one
  push per transaction in arrival order. A batch holding two transactions of one account is
  split, so the second is read after the first's push (the unbatched endpoint's contract).

Not part of the product: the benchmark showed no gain (docs/serving_benchmarks.md), so the
served endpoints stay unbatched. Run: ``bentoml serve benchmarks.batched_service:Batched``.
"""

from __future__ import annotations

import numpy as np
import bentoml
import pandas as pd

import features
from features.fraud import TXN_TIME
from models.scoring import score
from pomona.schemas import PRODUCT_ID, TRANSACTION_ID, TS
from serving import fraud, ranking, runtime
from serving.service import WS, _Pomona

MAX_BATCH = 32
MAX_LATENCY_MS = 20_000  # BentoML's bound on queueing + work; batches form from what is waiting


def rank_many(requests: list, champion: runtime.Champion, ws) -> list[ranking.RankResponse]:
    m = champion.current
    rows, spans = [], []
    for r in requests:
        shared = r.model_dump(exclude={"product_ids", "user_id"})
        spans.append((len(rows), len(rows) + len(r.product_ids), shared))
        rows += [{PRODUCT_ID: p, **shared} for p in r.product_ids]
    frame = runtime.online(lambda: features.online_features("ranking", rows, ws))
    for col in spans[0][2]:
        if col not in frame.columns:
            frame[col] = [row[col] for row in rows]
    scores = score(m.bundle, frame)["score"].to_numpy()
    probe = [c for c in ranking.PROBE if c in frame.columns]
    unknown = frame[probe].isna().all(axis=1).to_numpy() if probe else np.zeros(len(frame), bool)
    out = []
    for r, (a, b, _) in zip(requests, spans):
        order = np.argsort(-scores[a:b], kind="stable")
        out.append(ranking.RankResponse(
            results=[ranking.Result(product_id=r.product_ids[i], score=float(scores[a + i])) for i in order],
            model_version=m.version, cold_start=bool(unknown[a:b].any())))
    return out


def score_many(requests: list, champion: runtime.Champion, ws) -> list[fraud.FraudResponse]:
    out: dict[int, fraud.FraudResponse] = {}
    pending = list(enumerate(requests))
    while pending:  # waves without a repeated account
        seen, wave, later = set(), [], []
        for i, r in pending:
            (later if r.account_id in seen else wave).append((i, r))
            seen.add(r.account_id)
        for (i, _), resp in zip(wave, _score_wave([r for _, r in wave], champion, ws)):
            out[i] = resp
        pending = later
    return [out[i] for i in range(len(requests))]


def _score_wave(requests: list, champion: runtime.Champion, ws) -> list[fraud.FraudResponse]:
    m = champion.current
    stamps = []
    rows = []
    for r in requests:
        ts = pd.Timestamp(r.timestamp)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        stamps.append(ts)
        rows.append({**r.model_dump(exclude={"timestamp", TRANSACTION_ID}), TXN_TIME: ts.timestamp()})
    vec = runtime.online(lambda: features.online_features("fraud", rows, ws))
    cold = vec[[c for c in fraud.ACCOUNT_PROBE if c in vec.columns]].isna().all(axis=1).to_numpy()
    extra = {k: [row[k] for row in rows] for k in rows[0] if k not in vec.columns}
    extra[TRANSACTION_ID] = [r.transaction_id for r in requests]
    extra[TS] = [ts - pd.Timedelta(microseconds=1) for ts in stamps]
    scored = score(m.bundle, vec.assign(**extra))
    for r, ts in zip(requests, stamps):
        fraud._push(r, ts, ws)
    return [fraud.FraudResponse(fraud_probability=float(p), decision=str(d), threshold=float(t),
                                model_version=m.version, cold_start=bool(c))
            for p, d, t, c in zip(scored["fraud_probability"], scored["decision"], scored["threshold"], cold)]


RankRequest = ranking.request_model(WS)
TransactionRequest = fraud.request_model(WS)


@bentoml.service(name="pomona-batched", workers=1, traffic={"timeout": 30})
class Batched(_Pomona):
    use_cases = ("ranking", "fraud")

    @bentoml.api(route="/rank", batchable=True, max_batch_size=MAX_BATCH, max_latency_ms=MAX_LATENCY_MS)
    def rank(self, requests: list[RankRequest]) -> list[ranking.RankResponse]:
        return rank_many(requests, self.champions["ranking"], self.ws)

    @bentoml.api(route="/score_transaction", batchable=True, max_batch_size=MAX_BATCH,
                 max_latency_ms=MAX_LATENCY_MS)
    def score_transaction(self, requests: list[TransactionRequest]) -> list[fraud.FraudResponse]:
        return score_many(requests, self.champions["fraud"], self.ws)
