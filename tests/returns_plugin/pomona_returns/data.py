"""Orders of the marketplace's users and products, and whether each was returned.

Pattern: low-quality products, high prices and users who often return make a return likelier.
"""

import numpy as np
import pandas as pd

from pomona.schemas import PRODUCT_ID, TS, USER_ID

ORDER_ID, RETURNED, PRICE = "order_id", "returned", "price"
TABLES = {"orders": {ORDER_ID: "int", USER_ID: "int", PRODUCT_ID: "int", TS: "time", RETURNED: "label01"}}


def generate(syn, w) -> None:
    """Twenty orders per user over 2025, from the shared world."""
    world, rng = syn.world, np.random.default_rng([syn.seed, 5])
    n = 20 * world.n_users
    users = rng.integers(0, world.n_users, n)
    products = rng.integers(0, world.n_products, n)
    habit = rng.normal(0.0, 1.0, world.n_users)  # some users return far more than others
    price = world.price[products]
    logit = -2.0 + 0.8 * (3.0 - world.quality[products]) + 0.5 * np.log1p(price) / 3 + habit[users]
    returned = rng.random(n) < 1 / (1 + np.exp(-logit))
    seconds = np.sort(rng.integers(0, 365 * 86_400, n))
    w.append("orders", pd.DataFrame({
        ORDER_ID: np.arange(1, n + 1), USER_ID: users + 1, PRODUCT_ID: products + 1,
        TS: pd.to_datetime(seconds, unit="s", utc=True), PRICE: price, RETURNED: returned.astype("int64")}))
