"""Reference engine: the model's rules simulated literally, candle by candle.

Written to be read, not to be fast. Each window is simulated on its own, every
level's USD is multiplied by each closing and decay factor as it happens, and the
cluster features are recomputed from the alive levels at every candle. The fast
engine (``liqrisk.core.engine``) must agree with it to 1e-9 relative; the tests check that.
"""

from __future__ import annotations

import numpy as np

from liqrisk.core.engine import RawResult
from liqrisk.core.kernels import (
    CLOSED,
    DECAYED,
    EST,
    EXPIRED,
    N_SLOTS,
    NEAR_BUCKET,
    NEAR_USD,
    OUTSTANDING,
    STRONG_BUCKET,
    STRONG_USD,
    TIE_RTOL,
)
from liqrisk.core.model import ModelInputs


def _first_at_least(masses: np.ndarray, order: np.ndarray, threshold: float) -> int:
    """First bucket in ``order`` (nearest first) whose USD reaches ``threshold``."""
    hits = order[masses[order] >= threshold]
    return int(hits[0])


def _side_order(present: np.ndarray, rb: int, side: int) -> np.ndarray:
    """Occupied buckets on the side's half of the book, nearest to the price first."""
    idx = np.flatnonzero(present)
    return idx[idx <= rb][::-1] if side == 0 else idx[idx >= rb]


class _Window:
    """Alive levels of one window, one array entry per level."""

    def __init__(self) -> None:
        self.seed = np.zeros(0, np.int64)
        self.side = np.zeros(0, np.int64)
        self.half_life = np.zeros(0)
        self.price = np.zeros(0)
        self.bucket = np.zeros(0, np.int64)
        self.usd = np.zeros(0)

    def keep(self, mask: np.ndarray) -> None:
        for name in ("seed", "side", "half_life", "price", "bucket", "usd"):
            setattr(self, name, getattr(self, name)[mask])


def run_reference(inputs: ModelInputs) -> RawResult:
    n = inputs.n
    n_win = len(inputs.window_ns)
    nb = inputs.n_buckets
    out = np.full((n_win, 2, N_SLOTS, n), np.nan)
    conf = np.full((2, 2, n), np.nan)
    ledger = np.zeros((n_win, 3, n))
    seeded = np.zeros(n)
    dates = inputs.dates_ns
    level_price = inputs.level_price
    windows = [_Window() for _ in range(n_win)]
    # Per candle, every level's fields (void levels dropped when seeding).
    lv_side = np.array([inputs.split_level(lv)[0] for lv in range(inputs.levels_per_candle)])
    lv_tier = np.array([inputs.split_level(lv)[1] for lv in range(inputs.levels_per_candle)])
    lv_hl = inputs.group_half_life_ns[inputs.tier_group[lv_tier]]

    for t in range(n):
        books = np.zeros((n_win, 2, nb))
        present = np.zeros((n_win, 2, nb), bool)
        seed_usd = np.array([inputs.level_mass(t, lv) for lv in range(inputs.levels_per_candle)])
        new = inputs.level_bucket[t] >= 0
        seeded[t] = seed_usd[new].sum() + inputs.intra_usd[t].sum()  # same-candle positions: seeded and consumed at t
        for w, st in enumerate(windows):
            if t > 0:  # decay: half-life per tier, by elapsed time
                decayed = st.usd * (1.0 - 2.0 ** (-(dates[t] - dates[t - 1]) / st.half_life))
                st.usd = st.usd - decayed
                ledger[w, DECAYED, t] = decayed.sum()
            expired = dates[t] - dates[st.seed] >= inputs.window_ns[w]
            ledger[w, EXPIRED, t] = st.usd[expired].sum()
            st.keep(~expired)
            crossed = np.where(st.side == 0, inputs.cons_low[t] <= st.price, inputs.cons_high[t] >= st.price)
            out[w, 0, EST, t] = inputs.intra_usd[t, 0] + st.usd[crossed & (st.side == 0)].sum()
            out[w, 1, EST, t] = inputs.intra_usd[t, 1] + st.usd[crossed & (st.side == 1)].sum()
            st.keep(~crossed)
            closed = st.usd * inputs.close_frac[t]
            st.usd = st.usd - closed
            ledger[w, CLOSED, t] = closed.sum()
            st.seed = np.concatenate([st.seed, np.full(new.sum(), t)])
            st.side = np.concatenate([st.side, lv_side[new]])
            st.half_life = np.concatenate([st.half_life, lv_hl[new]])
            st.price = np.concatenate([st.price, level_price[t, new]])
            st.bucket = np.concatenate([st.bucket, inputs.level_bucket[t, new]])
            st.usd = np.concatenate([st.usd, seed_usd[new]])

            rb = int(inputs.ref_bucket[t])
            for side in range(2):
                mine = st.side == side
                out[w, side, OUTSTANDING, t] = st.usd[mine].sum()
                books[w, side] = np.bincount(st.bucket[mine], weights=st.usd[mine], minlength=nb)
                present[w, side] = np.bincount(st.bucket[mine], minlength=nb) > 0
                out[w, side, NEAR_USD, t] = out[w, side, STRONG_USD, t] = 0.0
                out[w, side, NEAR_BUCKET, t] = out[w, side, STRONG_BUCKET, t] = -1.0
                if rb < 0:
                    continue
                order = _side_order(present[w, side], rb, side)
                top = books[w, side][order].max(initial=0.0)
                if top <= 0.0:
                    continue
                near = _first_at_least(books[w, side], order, inputs.cluster_threshold * top * (1 - TIE_RTOL))
                strong = _first_at_least(books[w, side], order, top * (1 - TIE_RTOL))
                out[w, side, NEAR_BUCKET, t], out[w, side, NEAR_USD, t] = near, books[w, side, near]
                out[w, side, STRONG_BUCKET, t], out[w, side, STRONG_USD, t] = strong, books[w, side, strong]

        if n_win < 2:
            continue
        rb = int(inputs.ref_bucket[t])
        for side in range(2):
            conf[side, 0, t], conf[side, 1, t] = 0.0, -1.0
            tops = out[:, side, STRONG_USD, t]
            if rb < 0 or np.any(tops <= 0.0):
                continue
            best = 0.0
            in_all = np.all(books[:, side] > 0, axis=0)
            for b in _side_order(in_all, rb, side):
                # Score = geometric mean of each window's USD over its strongest bucket;
                # compared as the product (score ** W), ties to the nearer bucket.
                prod = 1.0
                for w in range(n_win):
                    prod *= books[w, side, b] / tops[w]
                if prod > best * (1.0 + TIE_RTOL) ** n_win:
                    best = prod
                    conf[side, 1, t] = b
            conf[side, 0, t] = best ** (1.0 / n_win)
    return RawResult(out=out, conf=conf, ledger=ledger, seeded=seeded)
