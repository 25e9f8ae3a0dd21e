"""The latent world shared by every use case of the synthetic marketplace.

Users (with taste and activity), products (with quality and drifting popularity), the fixed
vocabulary titles and queries are built from, scales, seeding and small vectorised helpers.
Times are int64 seconds since 2025-01-01 00:00 UTC until they are written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pomona import schemas
from pomona.errors import PomonaError

T0 = int(pd.Timestamp("2025-01-01", tz="UTC").timestamp())  # epoch seconds of the year start
DAY = 86_400
YEAR = 365 * DAY
MONTH_START_DAY = np.array([0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365])
MONTH_START = MONTH_START_DAY * DAY  # (13,) second offsets of month boundaries

# name -> (nouns used in titles and queries, typical price in $)
CATEGORIES: dict[str, tuple[tuple[str, ...], float]] = {
    "audio": (("headphones", "speaker", "earbuds"), 80.0),
    "computers": (("laptop", "keyboard", "monitor"), 400.0),
    "phones": (("smartphone", "charger", "powerbank"), 250.0),
    "kitchen": (("blender", "kettle", "toaster"), 60.0),
    "home": (("lamp", "rug", "pillow"), 45.0),
    "outdoor": (("tent", "backpack", "lantern"), 90.0),
    "fitness": (("dumbbells", "treadmill", "mat"), 70.0),
    "fashion": (("jacket", "sneakers", "scarf"), 65.0),
    "beauty": (("serum", "shampoo", "perfume"), 30.0),
    "toys": (("puzzle", "robot", "blocks"), 35.0),
    "books": (("novel", "cookbook", "notebook"), 18.0),
    "garden": (("hose", "planter", "shovel"), 40.0),
    "pets": (("leash", "collar", "aquarium"), 28.0),
    "gaming": (("console", "controller", "joystick"), 150.0),
}
CATEGORY_NAMES = list(CATEGORIES)
NOUNS = [n for c in CATEGORY_NAMES for n in CATEGORIES[c][0]]
NOUN_CATEGORY = np.repeat(np.arange(len(CATEGORY_NAMES)), 3)  # noun index -> category index
SUMMER_CATEGORIES = ("outdoor", "garden", "fitness")  # yearly demand peaks in July, others in December
BRANDS = [
    "acme", "nordlys", "zento", "kairo", "lumio", "vexa", "orbitek", "quill", "solace", "tundra",
    "brio", "castell", "denali", "everly", "fjord", "gallo", "helix", "iona", "juniper", "kestrel",
    "larkin", "mirada", "novum", "ostara", "pavo", "quasar", "rivet", "sable", "tavi", "umbra",
    "velo", "wrenly", "xylo", "yarrow", "zephyr", "alder", "birch", "cobalt", "dune", "ember",
    "flint", "granite", "harbor", "indigo", "jasper", "koda", "lumen", "maple",
]
ADJECTIVES = ["wireless", "classic", "premium", "compact", "portable", "ergonomic", "vintage", "smart",
              "organic", "deluxe", "lightweight", "waterproof", "eco", "pro", "mini", "ultra"]
COLORS = ["black", "white", "red", "blue", "green", "silver", "grey", "pink", "yellow", "brown"]
# home country -> region; weights are the share of users
COUNTRIES = ["US", "CA", "MX", "BR", "GB", "DE", "FR", "ES", "IT", "NL", "JP", "IN", "AU"]
COUNTRY_WEIGHTS = np.array([30, 5, 5, 6, 9, 9, 7, 5, 5, 3, 6, 6, 4], dtype=float)
REGION_OF = {"US": "north_america", "CA": "north_america", "MX": "latin_america", "BR": "latin_america",
             "GB": "europe", "DE": "europe", "FR": "europe", "ES": "europe", "IT": "europe", "NL": "europe",
             "JP": "asia_pacific", "IN": "asia_pacific", "AU": "asia_pacific"}


@dataclass(frozen=True)
class Scale:
    users: int
    products: int
    interactions: int  # target rows of recommendations/interactions
    searches: int  # ranking queries (each shows 10-20 products)
    transactions: int  # target legitimate rows of fraud/transactions
    merchants: int
    stores: int
    store_products: int  # forecasting series = stores x store_products
    user_block: int  # users per interactions / transactions chunk
    search_block: int
    store_block: int


SCALES: dict[str, Scale] = {
    "small": Scale(500, 200, 20_000, 1_500, 30_000, 120, 8, 25, 500, 1_500, 8),
    "medium": Scale(5_000, 2_000, 200_000, 15_000, 300_000, 1_000, 20, 100, 5_000, 15_000, 20),
    "large": Scale(200_000, 50_000, 22_000_000, 200_000, 5_400_000, 10_000, 50, 200, 20_000, 50_000, 10),
}


def get_scale(name: str) -> Scale:
    if name not in SCALES:
        raise PomonaError(f"unknown scale {name!r}; expected one of: {', '.join(SCALES)}")
    return SCALES[name]


def rng_for(seed: int, *key: int) -> np.random.Generator:
    """An independent generator for one part (use case, chunk) of the world."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def to_utc(seconds: np.ndarray) -> pd.DatetimeIndex:
    """Seconds since 2025-01-01 UTC -> tz-aware UTC timestamps."""
    return pd.to_datetime(np.asarray(seconds, dtype="int64") + T0, unit="s", utc=True)


def month_of(seconds: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(MONTH_START, seconds, side="right") - 1, 0, 11)


def pick_rows(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Row-wise categorical draw: ``cum`` (n, k) cumulative probabilities, ``u`` (n,) uniforms."""
    return np.minimum((cum < u[:, None]).sum(axis=1), cum.shape[1] - 1)


def with_rhythm(rng: np.random.Generator, t: np.ndarray, lo: np.ndarray, hour_p: np.ndarray) -> np.ndarray:
    """Move each time to an hour drawn from ``hour_p`` on the same day, unless that goes before ``lo``."""
    hour = rng.choice(24, size=len(t), p=hour_p)
    moved = (t // DAY) * DAY + hour * 3600 + rng.integers(0, 3600, len(t))
    return np.where(moved >= lo, moved, t)


class GroupSampler:
    """Draw items within a group proportionally to weights, for many rows at once."""

    def __init__(self, group_of_item: np.ndarray, weights: np.ndarray, n_groups: int):
        self.order = np.argsort(group_of_item, kind="stable")
        self.cum = np.cumsum(weights[self.order])
        counts = np.bincount(group_of_item, minlength=n_groups)
        self.end = np.cumsum(counts)
        self.start = self.end - counts

    def sample(self, groups: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Item index per row, or -1 where the group has no weight."""
        start, end = self.start[groups], self.end[groups]
        lo = np.where(start > 0, self.cum[np.maximum(start - 1, 0)], 0.0)
        hi = np.where(end > 0, self.cum[np.maximum(end - 1, 0)], 0.0)
        pos = np.searchsorted(self.cum, lo + u * (hi - lo), side="right")
        pos = np.clip(pos, start, np.maximum(end - 1, 0))
        return np.where(hi - lo > 0, self.order[pos], -1)


HOUR_SHOPPING = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 3.5, 4, 4.5, 5, 5, 4.5, 4.5, 5, 5.5, 6.5,
                          7.5, 8, 7, 5, 2.5])
HOUR_SHOPPING = HOUR_SHOPPING / HOUR_SHOPPING.sum()


@dataclass
class World:
    """Latent state; index i is user_id / product_id i + 1."""

    # users
    country: np.ndarray  # (U,) index into COUNTRIES
    age: np.ndarray
    signup: np.ndarray  # seconds, may be negative (before 2025)
    start: np.ndarray  # first moment the user can act, > signup and >= 0
    activity: np.ndarray  # mean-1 activity multiplier
    cat_pref: np.ndarray  # (U, C) taste over categories, rows sum to 1
    fav_brands: np.ndarray  # (U, 3) brand indices
    # products
    category: np.ndarray
    noun: np.ndarray
    brand: np.ndarray
    adjective: np.ndarray
    color: np.ndarray
    price: np.ndarray
    quality: np.ndarray  # latent 1..5
    rating: np.ndarray  # observed average rating 1..5
    listing: np.ndarray  # seconds
    logpop: np.ndarray  # (12, P) log popularity per month, -inf before listing

    @property
    def n_users(self) -> int:
        return len(self.country)

    @property
    def n_products(self) -> int:
        return len(self.category)

    def month_weights(self, m: int) -> np.ndarray:
        return np.exp(self.logpop[m])

    def affinity(self, users: np.ndarray, products: np.ndarray) -> np.ndarray:
        """Taste match of (user, product) pairs: log category preference vs uniform, + 1 for a favourite brand."""
        c = self.cat_pref.shape[1]
        cat = np.log(np.maximum(self.cat_pref[users, self.category[products]] * c, 1e-3))
        fav = (self.fav_brands[users] == self.brand[products][:, None]).any(axis=1)
        return np.clip(cat, -3, 3) + fav


def build_world(scale: Scale, seed: int) -> World:
    rng = rng_for(seed, 0)
    n_u, n_p = scale.users, scale.products
    n_c, n_b = len(CATEGORY_NAMES), len(BRANDS)
    # users
    country = rng.choice(len(COUNTRIES), size=n_u, p=COUNTRY_WEIGHTS / COUNTRY_WEIGHTS.sum())
    age = np.clip(rng.normal(38, 13, n_u), 18, 85).astype("int64")
    joined_before = rng.random(n_u) < 0.75
    signup = np.where(joined_before, rng.integers(-4 * YEAR, 0, n_u), rng.integers(0, 300 * DAY, n_u))
    start = np.maximum(signup, 0) + 3600
    activity = rng.lognormal(0.0, 0.8, n_u)
    activity /= activity.mean()
    cat_share = rng.dirichlet(np.full(n_c, 4.0))
    cat_pref = 0.85 * rng.dirichlet(np.full(n_c, 0.25), size=n_u) + 0.15 * cat_share
    brand_share = 1.0 / np.arange(1, n_b + 1) ** 0.8
    brand_share = rng.permutation(brand_share / brand_share.sum())
    fav_brands = rng.choice(n_b, size=(n_u, 3), p=brand_share)
    # products
    category = rng.choice(n_c, size=n_p, p=cat_share)
    noun = category * 3 + rng.integers(0, 3, n_p)
    brand = rng.choice(n_b, size=n_p, p=brand_share)
    adjective = rng.integers(0, len(ADJECTIVES), n_p)
    color = rng.integers(0, len(COLORS), n_p)
    base_price = np.array([CATEGORIES[c][1] for c in CATEGORY_NAMES])
    brand_premium = rng.lognormal(0, 0.25, n_b)
    quality = np.clip(rng.normal(3.6, 0.7, n_p), 1, 5)
    price = np.round(base_price[category] * brand_premium[brand] * rng.lognormal(0, 0.45, n_p)
                     * (1 + 0.1 * (quality - 3.6)), 2) + 0.99
    rating = np.round(np.clip(quality + rng.normal(0, 0.25, n_p), 1, 5), 1)
    launched_in_year = rng.random(n_p) < 0.15
    launch_month = np.where(launched_in_year, rng.integers(1, 11, n_p), 0)
    listing = np.where(launched_in_year, MONTH_START[launch_month], rng.integers(-3 * YEAR, -DAY, n_p))
    # popularity: quality helps, a per-product drift over the year, a boost after launch that fades
    m = np.arange(12)[:, None]
    base = rng.normal(0, 1.0, n_p) + 0.5 * (quality - 3.6)
    slope = rng.normal(0, 1.2, n_p)
    boost = np.where(launched_in_year, 1.5 * np.exp(-(m - launch_month) / 2.0), 0.0)
    logpop = base + slope * (m - 5.5) / 11 + boost
    logpop = np.where(m >= launch_month, logpop, -np.inf)
    return World(country=country, age=age, signup=signup, start=start, activity=activity, cat_pref=cat_pref,
                 fav_brands=fav_brands, category=category, noun=noun, brand=brand, adjective=adjective,
                 color=color, price=price, quality=quality, rating=rating, listing=listing, logpop=logpop)


def users_frame(w: World) -> pd.DataFrame:
    codes = np.array(COUNTRIES)[w.country]
    return pd.DataFrame({
        schemas.USER_ID: np.arange(1, w.n_users + 1, dtype="int64"),
        schemas.TS: to_utc(w.signup),
        "age": w.age,
        "region": [REGION_OF[c] for c in codes],
        "country": codes,
    })


def product_titles(w: World) -> list[str]:
    b, a, n, c = (np.array(BRANDS), np.array(ADJECTIVES), np.array(NOUNS), np.array(COLORS))
    return [f"{x} {y} {z} {v}" for x, y, z, v in zip(b[w.brand], a[w.adjective], n[w.noun], c[w.color])]


def products_frame(w: World) -> pd.DataFrame:
    return pd.DataFrame({
        schemas.PRODUCT_ID: np.arange(1, w.n_products + 1, dtype="int64"),
        schemas.TS: to_utc(w.listing),
        "category": np.array(CATEGORY_NAMES)[w.category],
        "brand": np.array(BRANDS)[w.brand],
        "price": w.price.astype("float64"),
        "quality": w.rating.astype("float64"),
        "title": product_titles(w),
    })
