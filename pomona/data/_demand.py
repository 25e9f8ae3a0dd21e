"""Daily unit sales per store and product (forecasting/demand)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from pomona import schemas
from pomona.data._world import CATEGORY_NAMES, DAY, SUMMER_CATEGORIES, Scale, World, rng_for, to_utc

HORIZON = 28
DAYS = 365
# Mon..Sun multipliers; 2025-01-01 is a Wednesday. Weekend days sell ~1.35x a weekday.
WEEKLY = np.array([0.85, 0.85, 0.9, 0.95, 1.1, 1.35, 1.15])
# day of year (0-based) -> multiplier; every one has is_holiday = 1
HOLIDAYS = {
    "2025-01-01": 0.5,   # New Year's Day
    "2025-02-14": 1.3,   # Valentine's Day
    "2025-04-20": 0.7,   # Easter Sunday
    "2025-07-04": 1.3,   # Independence Day
    "2025-09-01": 1.3,   # Labor Day
    "2025-11-27": 0.6,   # Thanksgiving
    "2025-11-28": 2.5,   # Black Friday
    "2025-12-25": 0.3,   # Christmas Day
}
HOLIDAY_DAY = np.array([(pd.Timestamp(d) - pd.Timestamp("2025-01-01")).days for d in HOLIDAYS])
HOLIDAY_MULT = np.array(list(HOLIDAYS.values()))
PROMO_LIFT = 1.3  # display lift on promo days, on top of the price effect of the discount
SLOW_SHARE = 0.3  # share of series that are intermittent slow movers
NOISE_SHAPE = 20.0  # gamma-Poisson: variance = mean + mean^2 / 20


def demand_products(w: World, scale: Scale, seed: int) -> np.ndarray:
    """Product indices sold in the stores: products listed before 2025."""
    rng = rng_for(seed, 5, 0)
    pool = np.flatnonzero(w.listing < 0)
    return np.sort(rng.choice(pool, min(scale.store_products, len(pool)), replace=False))


def demand(w: World, scale: Scale, seed: int) -> Iterator[pd.DataFrame]:
    """Chunks of the demand table, one per block of stores."""
    prods = demand_products(w, scale, seed)
    rng = rng_for(seed, 6, 0)
    n_p = len(prods)
    d = np.arange(DAYS)
    # product level: a price path with 2-4 changes, an elasticity, a yearly season
    changes = np.zeros((n_p, DAYS))
    for _ in range(4):
        at = rng.integers(20, DAYS, n_p)
        step = np.where(rng.random(n_p) < 0.75, np.log(rng.uniform(0.9, 1.12, n_p)), 0.0)
        changes += (d[None, :] >= at[:, None]) * step[:, None]
    list_price = w.price[prods][:, None] * np.exp(changes)  # (P, D)
    elasticity = rng.uniform(0.8, 2.0, n_p)
    summer = np.isin(np.array(CATEGORY_NAMES)[w.category[prods]], SUMMER_CATEGORIES)
    peak = np.where(summer, 190, 355)
    amp = rng.uniform(0.1, 0.35, n_p)
    yearly = 1 + amp[:, None] * np.cos(2 * np.pi * (d[None, :] - peak[:, None]) / 365)
    prod_base = np.exp(rng.normal(2.2, 0.7, n_p))  # ~9 units a day for a typical fast mover
    store_size = rng.lognormal(0, 0.35, scale.stores)
    weekly = WEEKLY[(d + 2) % 7]
    holiday = np.ones(DAYS)
    holiday[HOLIDAY_DAY] = HOLIDAY_MULT
    is_holiday = (holiday != 1).astype("int64")
    for chunk, lo in enumerate(range(0, scale.stores, scale.store_block)):
        crng = rng_for(seed, 5, chunk + 1)
        stores = np.arange(lo, min(lo + scale.store_block, scale.stores))
        s = np.repeat(stores, n_p)  # series = (store, product)
        p = np.tile(np.arange(n_p), len(stores))
        n = len(s)
        slow = crng.random(n) < SLOW_SHARE
        base = np.where(slow, crng.uniform(0.05, 0.4, n), prod_base[p] * store_size[s])
        trend = np.exp(crng.normal(0.1, 0.25, n)[:, None] * d[None, :] / 365)
        # promotions: 2-6 runs of 3-10 days with a 15-30% discount
        promo = np.zeros((n, DAYS), dtype=bool)
        for k in range(6):
            on = crng.random(n) < np.where(k < 2, 1.0, 0.5)
            st = crng.integers(0, DAYS - 10, n)
            ln = crng.integers(3, 11, n)
            promo |= on[:, None] & (d[None, :] >= st[:, None]) & (d[None, :] < (st + ln)[:, None])
        discount = crng.uniform(0.15, 0.30, n)
        price = np.round(list_price[p] * (1 - promo * discount[:, None]), 2)
        rel_price = price / w.price[prods][p][:, None]
        lam = (base[:, None] * trend * weekly[None, :] * yearly[p] * holiday[None, :]
               * rel_price ** (-elasticity[p][:, None]) * np.where(promo, PROMO_LIFT, 1.0))
        y = crng.poisson(lam * crng.gamma(NOISE_SHAPE, 1 / NOISE_SHAPE, lam.shape)).astype("float64")
        ids = np.char.add(np.char.add((s + 1).astype(str), "-"), (prods[p] + 1).astype(str))
        yield pd.DataFrame({
            schemas.SERIES_ID: np.repeat(ids, DAYS).astype(object),
            schemas.TS: to_utc(np.tile(d * DAY, n)),
            schemas.Y: y.ravel(),
            schemas.SPLIT: np.where(np.tile(d, n) >= DAYS - HORIZON, "test", "train"),
            "store_id": np.repeat(s + 1, DAYS).astype("int64"),
            schemas.PRODUCT_ID: np.repeat(prods[p] + 1, DAYS).astype("int64"),
            "price": price.ravel(),
            "promo": promo.ravel().astype("int64"),
            "is_holiday": np.tile(is_holiday, n),
        })
