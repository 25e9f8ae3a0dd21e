"""A process-level cache of fitted forecasters: a training job fits the same model on the same
rows several times (a candidate alone, then as a member of a combination or of the per-series
choice, and as the calibration fit of conformal intervals); :func:`fit_once` makes those one fit."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import pandas as pd

__all__ = ["FIT_CACHE_SIZE", "fit_once"]

# Recent fits of this process, by estimator settings and data (see :func:`fit_once`).
_FITTED: OrderedDict[str, object] = OrderedDict()
FIT_CACHE_SIZE = 12


def fit_once(estimator, X: pd.DataFrame):
    """``estimator`` fit on ``X``, or the equal estimator this process already fit on equal data.

    A fit is a deterministic function of the settings (``get_params``, seed included) and the
    rows, and a training job fits the same model on the same rows several times: a candidate
    alone, then again as a member of a combination or of the per-series choice. Those fits
    happen once; the last ``FIT_CACHE_SIZE`` fitted models are kept (the returned object may be
    shared: treat it as read-only)."""
    params = sorted((k, repr(v)) for k, v in estimator.get_params(deep=False).items())
    digest = hashlib.sha1(pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes())
    digest.update(repr((type(estimator).__qualname__, params, list(X.columns))).encode())
    key = digest.hexdigest()
    if key in _FITTED:
        _FITTED.move_to_end(key)
        return _FITTED[key]
    estimator.fit(X)
    _FITTED[key] = estimator
    while len(_FITTED) > FIT_CACHE_SIZE:
        _FITTED.popitem(last=False)
    return estimator
