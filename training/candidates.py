"""The registry of candidate models per use case (name in configs -> estimator class)."""

from __future__ import annotations

from typing import Callable


def _recommendations():
    from models.recommendations import EASE, BPRMatrixFactorization, MostPopular

    return {"most_popular": MostPopular, "ease": EASE, "bpr": BPRMatrixFactorization}


def _ranking():
    from models.ranking import LambdaMART, StrongestFeature

    return {"strongest_feature": StrongestFeature, "lambdamart": LambdaMART}


def _fraud():
    from models.fraud import LGBMFraud, LogisticFraud

    return {"logistic": LogisticFraud, "lightgbm": LGBMFraud}


def _forecasting():
    from models.forecasting import LGBMForecaster, SeasonalNaive

    return {"seasonal_naive": SeasonalNaive, "lightgbm": LGBMForecaster}


class _Lazy(dict):
    """Imports a use case's models only when that use case is asked for."""

    _loaders: dict[str, Callable[[], dict]] = {"recommendations": _recommendations, "ranking": _ranking,
                                               "fraud": _fraud, "forecasting": _forecasting}

    def __missing__(self, key):
        value = self._loaders[key]()
        self[key] = value
        return value


CANDIDATES: dict[str, dict[str, type]] = _Lazy()
