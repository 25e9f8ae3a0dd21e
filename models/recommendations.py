"""Recommendation models: most-popular, EASE and BPR matrix factorisation.

All three follow the scikit-learn estimator contract and share one API:

* ``fit(X)`` takes the canonical interactions frame (``user_id``, ``product_id`` and
  optionally ``weight``; default weight 1.0). Duplicated (user, product) pairs are
  aggregated: weights are summed, or set to 1 when the model binarizes.
* ``recommend(user_ids, k, exclude_seen)`` returns the top ``k`` products per user as a
  long frame ``user_id, product_id, score, rank, cold_start``. Users unseen at fit get the
  popularity ranking with ``cold_start=True``.
* ``predict(X)`` scores (user_id, product_id) rows; an unknown user or product falls back to
  the product's popularity (0 for an unknown product).

Learned state common to all models: ``user_index_`` and ``item_index_`` (``pd.Index`` of
ids; ``get_indexer`` / ``get_loc`` map id -> row), ``items_`` (product ids by row),
``seen_`` (CSR user x item matrix of the aggregated training interactions) and
``popularity_`` (number of distinct training users per item).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from pomona.schemas import PRODUCT_ID, USER_ID, WEIGHT

__all__ = ["MostPopular", "EASE", "BPRMatrixFactorization"]

_BATCH_USERS = 1024  # rows of the dense (batch, n_items) score matrix in recommend()
_BATCH_PAIRS = 4096  # rows per chunk in predict()


class _Recommender(BaseEstimator):
    """Shared fit bookkeeping, top-k retrieval and pair scoring."""

    _binarize_default = True

    # -- fitting -------------------------------------------------------------------------
    def _binarizes(self) -> bool:
        return bool(getattr(self, "binarize", self._binarize_default))

    def _index(self, X: pd.DataFrame) -> sp.csr_matrix:
        """Set the common learned attributes and return the user x item training matrix."""
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"X must be a pandas DataFrame with {USER_ID!r} and {PRODUCT_ID!r}")
        missing = [c for c in (USER_ID, PRODUCT_ID) if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks required columns {missing}")
        if len(X) == 0:
            raise ValueError("X has no interactions")
        u_codes, users = pd.factorize(X[USER_ID], sort=True)
        i_codes, items = pd.factorize(X[PRODUCT_ID], sort=True)
        if (u_codes < 0).any() or (i_codes < 0).any():
            raise ValueError(f"{USER_ID} and {PRODUCT_ID} must not be null")
        if self._binarizes() or WEIGHT not in X.columns:
            w = np.ones(len(X), dtype=np.float64)
        else:
            w = X[WEIGHT].to_numpy(dtype=np.float64, na_value=1.0)
        # COO -> CSR sums duplicates; binarize afterwards so duplicates count once.
        m = sp.csr_matrix((w, (u_codes, i_codes)), shape=(len(users), len(items)), dtype=np.float64)
        m.sum_duplicates()
        if self._binarizes():
            m.data[:] = 1.0
        m.eliminate_zeros()
        self.user_index_ = pd.Index(users)
        self.item_index_ = pd.Index(items)
        self.items_ = np.asarray(items)
        self.seen_ = m
        self.popularity_ = np.diff(m.tocsc().indptr).astype(np.float64)  # distinct users per item
        return m

    # -- model-specific scoring (overridden) ----------------------------------------------
    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        """Scores of known user rows against every item: (len(rows), n_items)."""
        raise NotImplementedError

    def _score_pairs(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Scores of known (user row, item row) pairs: (n_pairs,)."""
        raise NotImplementedError

    # -- public API ----------------------------------------------------------------------
    def recommend(self, user_ids, k: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        """Top ``k`` products per user.

        Parameters
        ----------
        user_ids : scalar or array-like of user ids
        k : number of products per user (fewer when not enough unseen products remain)
        exclude_seen : drop products the user interacted with in the training data

        Returns
        -------
        DataFrame with columns ``user_id, product_id, score, rank (1..k), cold_start``,
        users in the order given, products by decreasing score.
        """
        check_is_fitted(self, "seen_")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        ids = np.atleast_1d(np.asarray(user_ids))
        n_items = len(self.items_)
        k = min(int(k), n_items)
        rows = self.user_index_.get_indexer(ids)

        top = np.empty((len(ids), k), dtype=np.int64)  # item rows
        top_scores = np.empty((len(ids), k), dtype=np.float64)

        known = np.flatnonzero(rows >= 0)
        for start in range(0, len(known), _BATCH_USERS):
            pos = known[start:start + _BATCH_USERS]
            scores = np.asarray(self._score_rows(rows[pos]), dtype=np.float64)  # (batch, n_items)
            if exclude_seen:
                seen = self.seen_[rows[pos]].tocoo()
                scores[seen.row, seen.col] = -np.inf
            top[pos], top_scores[pos] = _top_k(scores, k)

        cold = np.flatnonzero(rows < 0)
        if len(cold):
            pop_rows, pop_scores = _top_k(self.popularity_[None, :], k)
            top[cold], top_scores[cold] = pop_rows, pop_scores

        keep = np.isfinite(top_scores).ravel()  # -inf: seen items filling short lists
        out = pd.DataFrame({
            USER_ID: np.repeat(ids, k)[keep],
            PRODUCT_ID: self.items_[top.ravel()[keep]],
            "score": top_scores.ravel()[keep],
            "rank": np.tile(np.arange(1, k + 1), len(ids))[keep],
            "cold_start": np.repeat(rows < 0, k)[keep],
        })
        return out.reset_index(drop=True)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Scores of (user_id, product_id) rows; unknown user or product -> popularity or 0."""
        check_is_fitted(self, "seen_")
        u = self.user_index_.get_indexer(X[USER_ID])
        i = self.item_index_.get_indexer(X[PRODUCT_ID])
        out = np.zeros(len(X), dtype=np.float64)
        item_known = i >= 0
        out[item_known] = self.popularity_[i[item_known]]
        both = np.flatnonzero(item_known & (u >= 0))
        for start in range(0, len(both), _BATCH_PAIRS):
            pos = both[start:start + _BATCH_PAIRS]
            out[pos] = self._score_pairs(u[pos], i[pos])
        return out


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of each row's ``k`` largest scores, best first."""
    n = scores.shape[1]
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n), (scores.shape[0], n))
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)


class MostPopular(_Recommender):
    """Ranks products by the number of distinct users who interacted with them.

    ``weight`` is ignored: a user who bought a product ten times counts once. Every user
    gets the same list (minus their seen products when ``exclude_seen``).
    """

    def __init__(self):
        pass

    def fit(self, X: pd.DataFrame, y=None) -> MostPopular:
        self._index(X)
        return self

    def _score_rows(self, rows):
        return np.broadcast_to(self.popularity_, (len(rows), len(self.popularity_))).copy()

    def _score_pairs(self, u, i):
        return self.popularity_[i]


class EASE(_Recommender):
    """Embarrassingly Shallow Autoencoder (Steck, WWW 2019), closed form.

    ``G = XᵀX + λI``, ``P = G⁻¹``, ``B = −P / diag(P)`` with ``diag(B) = 0``; the scores of
    a user are ``x_u · B``. Cost is O(n_items³) time and n_items² float64 memory, fine on
    the CPU up to a few thousand products.

    Parameters
    ----------
    l2 : λ, the L2 penalty on B. 500 was kept on validation (``benchmarks/tune_defaults.py``):
        on MovieLens 100K it is within 0.003 nDCG@10 of the best of 50-1000 (1000: 0.237 vs
        0.235); the small synthetic world prefers 100 (0.132 vs 0.118)
    binarize : treat every interaction as 1 (else the summed ``weight``)

    Learned attributes: ``B_`` (n_items, n_items) item-item weights.
    """

    def __init__(self, l2: float = 500.0, binarize: bool = True):
        self.l2 = l2
        self.binarize = binarize

    def fit(self, X: pd.DataFrame, y=None) -> EASE:
        m = self._index(X)
        g = (m.T @ m).toarray()  # (n_items, n_items) Gram matrix
        g[np.diag_indices_from(g)] += self.l2
        p = np.linalg.inv(g)
        b = p / (-np.diag(p))  # column j divided by -P_jj
        b[np.diag_indices_from(b)] = 0.0
        self.B_ = b
        return self

    def _score_rows(self, rows):
        return np.asarray(self.seen_[rows] @ self.B_)

    def _score_pairs(self, u, i):
        x = self.seen_[u]  # (n_pairs, n_items) sparse
        return np.asarray(x.multiply(self.B_[:, i].T).sum(axis=1)).ravel()


class BPRMatrixFactorization(_Recommender):
    """Matrix factorisation trained with the BPR pairwise loss (Rendle et al., UAI 2009), in PyTorch.

    ``score(u, i) = p_u · q_i + b_i``. Each epoch visits every (user, positive item) pair once
    in random order with one uniformly sampled item the user has not interacted with, and
    minimises ``−log σ(score(u, i) − score(u, j)) + reg · (‖p_u‖² + ‖q_i‖² + ‖q_j‖²)`` with
    Adam. All randomness (initialisation, order, negatives) comes from one
    ``numpy.random.Generator(random_state)``, so CPU training is deterministic and leaves
    torch's global RNG alone. The learned factors are stored as numpy arrays, so the fitted
    model pickles and scores without torch.

    The defaults were chosen on validation only (``benchmarks/tune_defaults.py movielens`` and
    ``synthetic``: 20% of each user's training rows, carved per user; the test part is never
    read): on MovieLens 100K ``reg`` 1e-2 and 60 epochs give validation nDCG@10 0.227 against
    0.194-0.201 for 3e-3 and 0.18-0.21 for 3e-2; 120 epochs gain 0.003 (0.006 on the small
    synthetic world) for twice the time, which validation cannot tell from noise. The same
    defaults serve every dataset.

    Parameters
    ----------
    factors : embedding size
    epochs : passes over the training interactions
    lr : Adam learning rate
    reg : L2 penalty on the embeddings used in a batch
    batch_size : (user, positive, negative) triples per step
    random_state : seed
    device : "auto" (CUDA when available, else CPU), "cpu" or "cuda"
    num_threads : torch intra-op threads while training on the CPU (restored afterwards);
        None keeps torch's setting. The per-step ops are small, so 1 thread is usually
        fastest (no synchronisation overhead; several times faster on a busy 2-core machine).
    verbose : print the mean loss of every epoch

    Learned attributes: ``user_factors_`` (n_users, factors), ``item_factors_``
    (n_items, factors), ``item_bias_`` (n_items,), ``loss_curve_`` (per-epoch mean loss),
    ``device_`` (the device trained on).
    """

    def __init__(self, factors: int = 64, epochs: int = 60, lr: float = 0.005, reg: float = 1e-2,
                 batch_size: int = 2048, random_state: int | None = 0, device: str = "auto",
                 num_threads: int | None = 1, verbose: bool = False):
        self.factors = factors
        self.epochs = epochs
        self.lr = lr
        self.reg = reg
        self.batch_size = batch_size
        self.random_state = random_state
        self.device = device
        self.num_threads = num_threads
        self.verbose = verbose

    def _resolve_device(self) -> str:
        import torch

        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if self.device not in ("cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        return str(self.device)

    def fit(self, X: pd.DataFrame, y=None) -> BPRMatrixFactorization:
        import torch

        m = self._index(X)
        device = self._resolve_device()
        threads = torch.get_num_threads()
        if device == "cpu" and self.num_threads:
            torch.set_num_threads(int(self.num_threads))
        try:
            self._train(torch, m, device)
        finally:
            torch.set_num_threads(threads)
        self.device_ = device
        return self

    def _train(self, torch, m: sp.csr_matrix, device: str) -> None:
        rng = np.random.default_rng(self.random_state)
        n_users, n_items = m.shape
        coo = m.tocoo()
        pos_u, pos_i = coo.row.astype(np.int64), coo.col.astype(np.int64)
        keys = np.sort(pos_u * n_items + pos_i)  # for rejecting sampled negatives the user has seen

        scale = 0.1
        p = torch.tensor(rng.normal(0, scale, (n_users, self.factors)), dtype=torch.float32,
                         device=device, requires_grad=True)
        q = torch.tensor(rng.normal(0, scale, (n_items, self.factors)), dtype=torch.float32,
                         device=device, requires_grad=True)
        b = torch.zeros(n_items, dtype=torch.float32, device=device, requires_grad=True)
        opt = torch.optim.Adam([p, q, b], lr=self.lr)

        self.loss_curve_ = []
        for epoch in range(self.epochs):
            order = rng.permutation(len(pos_u))
            u_all, i_all = pos_u[order], pos_i[order]
            j_all = _sample_negatives(u_all, keys, n_items, rng)
            total = 0.0
            for start in range(0, len(u_all), self.batch_size):
                sl = slice(start, start + self.batch_size)
                u = torch.from_numpy(u_all[sl]).to(device)
                i = torch.from_numpy(i_all[sl]).to(device)
                j = torch.from_numpy(j_all[sl]).to(device)
                pu, qi, qj = p[u], q[i], q[j]  # (batch, factors)
                diff = (pu * (qi - qj)).sum(1) + b[i] - b[j]
                loss = -torch.nn.functional.logsigmoid(diff).mean() + self.reg * (
                    pu.pow(2).sum(1) + qi.pow(2).sum(1) + qj.pow(2).sum(1)).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(u)
            self.loss_curve_.append(total / len(u_all))
            if self.verbose:
                print(f"BPR epoch {epoch + 1}/{self.epochs} loss {self.loss_curve_[-1]:.4f}")

        self.user_factors_ = p.detach().cpu().numpy()
        self.item_factors_ = q.detach().cpu().numpy()
        self.item_bias_ = b.detach().cpu().numpy()

    def _score_rows(self, rows):
        return self.user_factors_[rows] @ self.item_factors_.T + self.item_bias_

    def _score_pairs(self, u, i):
        return (self.user_factors_[u] * self.item_factors_[i]).sum(1) + self.item_bias_[i]


def _sample_negatives(u: np.ndarray, keys: np.ndarray, n_items: int, rng: np.random.Generator,
                      max_rounds: int = 20) -> np.ndarray:
    """One uniformly drawn item per user row, redrawn (up to ``max_rounds``) while the user has seen it."""
    j = rng.integers(0, n_items, len(u))
    todo = np.arange(len(u))
    for _ in range(max_rounds):
        k = u[todo] * n_items + j[todo]
        pos = np.searchsorted(keys, k).clip(max=len(keys) - 1)
        todo = todo[keys[pos] == k]
        if len(todo) == 0:
            break
        j[todo] = rng.integers(0, n_items, len(todo))
    return j


# Candidates a training config may name, and the one scorer every consumer calls.
CANDIDATES = {"most_popular": MostPopular, "ease": EASE, "bpr": BPRMatrixFactorization}
REQUIREMENTS = ("torch",)  # beyond the common ones, for a logged model's environment


def score(bundle, frame: pd.DataFrame, p: dict) -> pd.DataFrame:
    """Top ``k`` products per ``user_id`` row (long format: user_id, product_id, score, rank,
    cold_start), the user's own past items excluded; unknown users get the popular items."""
    k = int(p.get("k", 10))
    users = pd.unique(frame[USER_ID].to_numpy())
    return bundle.estimator.recommend(users, k=k, exclude_seen=True).reset_index(drop=True)
