"""Card transactions of the marketplace's users (fraud/transactions and fraud/merchants).

Accounts are the users (account_id == user_id). Legitimate spending has a per-account typical
amount, a primary device, the home country and a daily and weekly rhythm, with occasional
travel, new devices and big purchases; four fraud patterns are injected on top.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from pomona import schemas
from pomona.data._world import (
    COUNTRIES,
    COUNTRY_WEIGHTS,
    DAY,
    HOUR_SHOPPING,
    YEAR,
    GroupSampler,
    Scale,
    World,
    rng_for,
    to_utc,
)
from pomona.data.fraud import IS_FRAUD

# merchant category -> amount multiplier of the account's typical amount
MERCHANT_CATEGORIES = {"grocery": 1.0, "restaurants": 0.8, "fuel": 1.2, "fashion": 1.6, "electronics": 3.0,
                       "travel": 4.0, "pharmacy": 0.6, "home": 1.8, "digital_goods": 0.15, "gaming": 0.4,
                       "jewelry": 5.0}
MC_NAMES = list(MERCHANT_CATEGORIES)
MC_MULT = np.array(list(MERCHANT_CATEGORIES.values()))
MC_WEIGHTS = np.array([20, 16, 10, 10, 6, 4, 6, 8, 8, 6, 2], dtype=float)
CHANNELS = np.array(["pos", "web", "app"])
PATTERNS = np.array(["none", "card_testing", "account_takeover", "risky_merchant", "amount_spike"])
# share of all transactions per pattern (card testing counts every charge of a burst)
FRAUD_SHARE = {"card_testing": 0.0035, "account_takeover": 0.0020, "risky_merchant": 0.0025, "amount_spike": 0.0015}
RISKY_MERCHANT_SHARE = 0.01  # of merchants (at least 2); online merchants with little legitimate traffic
WEEKDAY = np.array([0.9, 0.9, 0.95, 1.0, 1.15, 1.2, 0.9])  # Mon..Sun relative transaction volume
NEW_DEVICE_BASE = 10_000_000_000  # device ids at or above this are one-off devices


class Merchants:
    def __init__(self, scale: Scale, seed: int):
        rng = rng_for(seed, 3, 0)
        n, n_c = scale.merchants, len(COUNTRIES)
        self.country = np.concatenate([np.arange(n_c).repeat(2),
                                       rng.choice(n_c, n - 2 * n_c, p=COUNTRY_WEIGHTS / COUNTRY_WEIGHTS.sum())])
        self.category = np.concatenate([np.arange(len(MC_NAMES)),  # every category has a merchant
                                        rng.choice(len(MC_NAMES), n - len(MC_NAMES), p=MC_WEIGHTS / MC_WEIGHTS.sum())])
        self.onboarded = rng.integers(-5 * YEAR, -DAY, n)
        online = np.isin(self.category, [MC_NAMES.index(c) for c in ("digital_goods", "gaming", "electronics")])
        n_risky = max(2, round(RISKY_MERCHANT_SHARE * n))
        self.risky = np.zeros(n, dtype=bool)
        self.risky[rng.choice(np.flatnonzero(online), n_risky, replace=False)] = True
        self.weight = rng.lognormal(0, 1.0, n)
        self.weight[self.risky] = np.exp(-0.5)  # modest legitimate traffic, so their fraud rate is high
        self.risky_ids = np.flatnonzero(self.risky)
        self.by_country = GroupSampler(self.country, self.weight, n_c)
        self.by_category = GroupSampler(self.category, self.weight, len(MC_NAMES))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({
            schemas.MERCHANT_ID: np.arange(1, len(self.country) + 1, dtype="int64"),
            schemas.TS: to_utc(self.onboarded),
            "category": np.array(MC_NAMES)[self.category],
            "country": np.array(COUNTRIES)[self.country],
        })

    def in_categories(self, rng, names: tuple[str, ...], n: int) -> np.ndarray:
        cats = np.array([MC_NAMES.index(c) for c in names])[rng.integers(0, len(names), n)]
        return self.by_category.sample(cats, rng.random(n))


def _cols(n: int) -> dict[str, np.ndarray]:
    return {"account": np.zeros(n, np.int64), "merchant": np.zeros(n, np.int64), "t": np.zeros(n, np.int64),
            "amount": np.zeros(n), "fraud": np.zeros(n, np.int8), "device": np.zeros(n, np.int64),
            "country": np.zeros(n, np.int64), "channel": np.zeros(n, np.int64), "pattern": np.zeros(n, np.int8)}


def _block(w: World, mer: Merchants, scale: Scale, seed: int, chunk: int, users: np.ndarray) -> dict[str, np.ndarray]:
    rng = rng_for(seed, 4, chunk)
    nu = len(users)
    typical = rng.lognormal(3.2, 0.6, nu)  # the account's typical amount in $
    has_phone = rng.random(nu) < 0.6
    chan_p = rng.dirichlet([3.0, 2.0, 1.5], nu)
    regulars = mer.by_country.sample(np.repeat(w.country[users], 6), rng.random(nu * 6)).reshape(nu, 6)
    trip = rng.random(nu) < 0.10
    trip_start = rng.integers(0, YEAR - 15 * DAY, nu)
    trip_len = rng.integers(4, 15, nu) * DAY
    trip_dest = (w.country[users] + rng.integers(1, len(COUNTRIES), nu)) % len(COUNTRIES)
    span = YEAR - 3600 - w.start[users]
    rate = scale.transactions / (scale.users * 0.86) * w.activity[users] ** 0.5 / np.mean(w.activity ** 0.5)
    # legitimate payments
    n_tx = rng.poisson(rate * span / YEAR)
    i = np.repeat(np.arange(nu), n_tx)
    n = len(i)
    day = (w.start[users][i] + rng.random(n) * span[i]).astype(np.int64) // DAY
    shift = np.where(rng.random(n) < 1 - WEEKDAY[(day + 2) % 7] / WEEKDAY.max(), rng.integers(-3, 4, n), 0)
    day = np.clip(day + shift, 0, 364)  # thin out quieter weekdays (2025-01-01 is a Wednesday)
    t = day * DAY + rng.choice(24, n, p=HOUR_SHOPPING) * 3600 + rng.integers(0, 3600, n)
    t = np.where(t > w.start[users][i], t, w.start[users][i] + rng.integers(60, 3600, n))
    t = np.minimum(t, YEAR - 1)
    away = trip[i] & (t >= trip_start[i]) & (t < trip_start[i] + trip_len[i]) & (rng.random(n) < 0.85)
    country = np.where(away, trip_dest[i], w.country[users][i])
    merchant = np.where(rng.random(n) < 0.6, regulars[i, rng.integers(0, 6, n)], -1)
    merchant = np.where(away | (merchant < 0), mer.by_country.sample(country, rng.random(n)), merchant)
    channel = (chan_p[i].cumsum(axis=1) < rng.random(n)[:, None]).sum(axis=1).clip(0, 2)
    channel = np.where(away, 0, channel)
    amount = typical[i] * MC_MULT[mer.category[merchant]] * rng.lognormal(0, 0.55, n)
    big = rng.random(n) < 0.004  # legitimate big purchases
    amount = np.where(big, amount * rng.uniform(5, 20, n), amount)
    user_ids = users[i] + 1
    device = np.where((channel == 2) & has_phone[i], user_ids * 4 + 1, user_ids * 4)
    new_dev = rng.random(n) < np.where(away, 0.3, 0.025)  # new phone, hotel computer, ...
    device = np.where(new_dev, NEW_DEVICE_BASE + rng.integers(0, 10 ** 9, n), device)
    fraud = np.zeros(n, np.int8)
    pattern = np.zeros(n, np.int8)
    legit = dict(account=user_ids, merchant=merchant, t=t, amount=amount, fraud=fraud, device=device,
                 country=country, channel=channel, pattern=pattern)
    parts = [legit, _micro_bursts(rng, w, mer, users, has_phone, span)]
    late = span > 40 * DAY  # fraud hits accounts with some history
    eligible = np.flatnonzero(late)
    expected = n  # fraud counts scale with this block's legitimate volume

    def victims(k: int):
        acc = rng.choice(eligible, k) if len(eligible) else np.zeros(0, np.int64)
        when = w.start[users][acc] + 30 * DAY + (rng.random(k) * (span[acc] - 31 * DAY)).astype(np.int64)
        return acc, when

    # (a) card testing: bursts of 3-9 charges under $5 within minutes at 1-3 online merchants
    k = rng.poisson(FRAUD_SHARE["card_testing"] * expected / 6)
    acc, when = victims(k)
    size = rng.integers(3, 10, k)
    j = np.repeat(np.arange(k), size)
    m_pool = mer.in_categories(rng, ("digital_goods", "gaming"), k * 3).reshape(k, 3)
    ct = _cols(len(j))
    ct["account"] = users[acc][j] + 1
    ct["t"] = when[j] + _within_group_cumsum(j, rng.integers(5, 180, len(j)))
    ct["merchant"] = m_pool[j, rng.integers(0, 1 + rng.integers(0, 3, k)[j])]
    ct["amount"] = rng.uniform(0.5, 4.99, len(j))
    ct["device"] = np.where(rng.random(k) < 0.8, NEW_DEVICE_BASE + rng.integers(0, 10 ** 9, k), users[acc] * 4 + 4)[j]
    ct["country"] = np.where(rng.random(k) < 0.6, rng.integers(0, len(COUNTRIES), k), w.country[users][acc])[j]
    ct["channel"][:] = 1
    ct["fraud"][:], ct["pattern"][:] = 1, 1
    parts.append(ct)
    # (b) account takeover: a new device, usually abroad, then 1-3 large payments within two hours
    k = rng.poisson(FRAUD_SHARE["account_takeover"] * expected / 2)
    acc, when = victims(k)
    size = rng.integers(1, 4, k)
    j = np.repeat(np.arange(k), size)
    at = _cols(len(j))
    at["account"] = users[acc][j] + 1
    at["t"] = when[j] + _within_group_cumsum(j, rng.integers(60, 2400, len(j)))
    foreign = (w.country[users][acc] + rng.integers(1, len(COUNTRIES), k)) % len(COUNTRIES)
    at["country"] = np.where(rng.random(k) < 0.7, foreign, w.country[users][acc])[j]
    at["merchant"] = mer.in_categories(rng, ("electronics", "jewelry", "travel"), len(j))
    at["amount"] = typical[acc][j] * rng.uniform(5, 25, len(j))
    at["device"] = (NEW_DEVICE_BASE + rng.integers(0, 10 ** 9, k))[j]
    at["channel"] = rng.integers(1, 3, k)[j]
    at["fraud"][:], at["pattern"][:] = 1, 2
    parts.append(at)
    # (c) risky merchants: payments at a few online merchants, a bit larger, half from new devices
    k = rng.poisson(FRAUD_SHARE["risky_merchant"] * expected)
    acc, when = victims(k)
    rm = _cols(k)
    rm["account"], rm["t"] = users[acc] + 1, when
    rm["merchant"] = mer.risky_ids[rng.integers(0, len(mer.risky_ids), k)]
    rm["country"] = np.where(rng.random(k) < 0.7, w.country[users][acc], mer.country[rm["merchant"]])
    rm["amount"] = typical[acc] * rng.lognormal(0.8, 0.5, k)
    rm["device"] = np.where(rng.random(k) < 0.5, (users[acc] + 1) * 4, NEW_DEVICE_BASE + rng.integers(0, 10 ** 9, k))
    rm["channel"] = rng.integers(1, 3, k)
    rm["fraud"][:], rm["pattern"][:] = 1, 3
    parts.append(rm)
    # (d) amount spike: one payment 10-40x the account's typical amount, from the usual device at home
    k = rng.poisson(FRAUD_SHARE["amount_spike"] * expected)
    acc, when = victims(k)
    sp = _cols(k)
    sp["account"], sp["t"] = users[acc] + 1, when
    sp["country"] = w.country[users][acc]
    sp["merchant"] = mer.by_country.sample(sp["country"], rng.random(k))
    sp["amount"] = typical[acc] * rng.uniform(10, 40, k)
    sp["device"] = (users[acc] + 1) * 4
    sp["channel"] = rng.integers(0, 2, k)
    sp["fraud"][:], sp["pattern"][:] = 1, 4
    parts.append(sp)
    out = {c: np.concatenate([p[c] for p in parts]) for c in legit}
    out["t"] = np.minimum(out["t"], YEAR - 1)
    out["amount"] = np.round(np.maximum(out["amount"], 0.5), 2)
    return out


def _micro_bursts(rng, w: World, mer: Merchants, users: np.ndarray, has_phone: np.ndarray,
                  span: np.ndarray) -> dict[str, np.ndarray]:
    """Legitimate look-alikes of card testing: gamers buying 2-5 in-app items under $5 within minutes."""
    gamer = rng.random(len(users)) < 0.08
    n_sessions = np.where(gamer, rng.poisson(6 * span / YEAR), 0)
    acc = np.repeat(np.arange(len(users)), n_sessions)
    k = len(acc)
    start = w.start[users][acc] + (rng.random(k) * span[acc]).astype(np.int64)
    size = rng.integers(2, 6, k)
    j = np.repeat(np.arange(k), size)
    out = _cols(len(j))
    uid = users[acc] + 1
    out["account"] = uid[j]
    out["t"] = start[j] + _within_group_cumsum(j, rng.integers(20, 400, len(j)))
    out["merchant"] = mer.in_categories(rng, ("digital_goods", "gaming"), k)[j]
    out["amount"] = rng.choice([0.99, 1.99, 2.99, 4.99], len(j))
    out["device"] = np.where(has_phone[acc], uid * 4 + 1, uid * 4)[j]
    out["country"] = w.country[users][acc][j]
    out["channel"][:] = 2
    return out


def _within_group_cumsum(groups: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``x`` restarting at each new value of the sorted ``groups``, starting at 0."""
    cs = np.cumsum(x)
    first = np.r_[0, np.flatnonzero(groups[1:] != groups[:-1]) + 1] if len(groups) else np.zeros(0, np.int64)
    base = np.repeat(cs[first] - x[first], np.diff(np.r_[first, len(groups)]))
    return cs - base - np.repeat(x[first], np.diff(np.r_[first, len(groups)]))


def transactions(w: World, mer: Merchants, scale: Scale, seed: int, chunk_rows: int = 1_000_000,
                 on_block=None) -> Iterator[pd.DataFrame]:
    """Transactions sorted by time with increasing ids, in chunks of ``chunk_rows``."""
    blocks = []
    for chunk, lo in enumerate(range(0, w.n_users, scale.user_block)):
        blocks.append(_block(w, mer, scale, seed, chunk, np.arange(lo, min(lo + scale.user_block, w.n_users))))
        if on_block:
            on_block()
    cols = {c: np.concatenate([b[c] for b in blocks]) for c in blocks[0]}
    del blocks
    order = np.lexsort((cols["account"], cols["t"]))
    for c in cols:
        cols[c] = cols[c][order]
    del order
    countries, patterns = np.array(COUNTRIES), PATTERNS
    for lo in range(0, len(cols["t"]), chunk_rows):
        s = slice(lo, lo + chunk_rows)
        yield pd.DataFrame({
            schemas.TRANSACTION_ID: np.arange(lo + 1, lo + 1 + len(cols["t"][s]), dtype="int64"),
            schemas.ACCOUNT_ID: cols["account"][s],
            schemas.MERCHANT_ID: cols["merchant"][s] + 1,
            schemas.TS: to_utc(cols["t"][s]),
            "amount": cols["amount"][s],
            IS_FRAUD: cols["fraud"][s].astype("int64"),
            "device_id": cols["device"][s],
            "country": countries[cols["country"][s]],
            "channel": CHANNELS[cols["channel"][s]],
            "fraud_pattern": patterns[cols["pattern"][s]],
        })
