"""numba kernels of the liquidation engine: the state machine over candles and windows.

Conventions as in ``liqrisk.core.kernels``. The state machine's arrays travel in three
named tuples (numba compiles attribute access on them to a plain field read):

* ``EngineInputs``: what it reads, per candle and per level;
* ``EngineState``: what it carries from one candle to the next (``new_state``);
* ``RawResult``: what it writes, per candle.

``advance_nb`` moves a state on by some candles: ``liqrisk.core.engine`` calls it over
whole time chunks (in parallel), ``liqrisk.core.live`` once per appended candle.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from liqrisk.core import _numba
from liqrisk.core.kernels import (
    CLOSED,
    DECAYED,
    EST,
    EXPIRED,
    NEAR_BUCKET,
    NEAR_USD,
    OUTSTANDING,
    REBASE_LOG,
    STRONG_BUCKET,
    STRONG_USD,
    TIE_RTOL,
)
from liqrisk.core.kernels_book import (
    bucket_add_nb,
    confluence_nb,
    mix_row_nb,
    neumaier_add_nb,
    remove_nb,
    scan_row_nb,
    total_nb,
)


class RawResult(NamedTuple):
    """Engine output before it becomes a DataFrame.

    ``out[w, side, slot, t]`` with slots ``kernels.EST`` .. ``kernels.STRONG_USD``
    (bucket slots hold relative bucket indices, −1 for none); ``conf[side, 0|1, t]`` =
    (score, bucket); ``ledger[w, slot, t]`` = expired / closed / decayed USD;
    ``seeded[t]`` = USD seeded at t (the same for every window).
    """

    out: np.ndarray  # float64 [W, 2, N_SLOTS, n], NaN before it is written
    conf: np.ndarray  # float64 [2, 2, n], NaN before it is written
    ledger: np.ndarray  # float64 [W, 3, n], USD, zeros before it is written
    seeded: np.ndarray  # float64 [n], USD, zeros before it is written


class EngineInputs(NamedTuple):
    """What the state machine reads: per-candle and per-level arrays of one run or chunk.

    The per-candle arrays may be a slice of candles starting at global index ``offset``;
    ``cross`` and ``expiry`` hold global indices (``advance_nb`` re-bases them).
    """

    ref_bucket: np.ndarray  # int32 [n], bucket of the reference price, −1 if none
    level_bucket: np.ndarray  # int32 [n, L], −1 = void level
    seed_usd: np.ndarray  # float64 [n, 2], USD opened per side
    intra_usd: np.ndarray  # float64 [n, 2], USD opened and liquidated within the candle
    lv_side: np.ndarray  # int64 [L], from ``kernels.level_tables_nb``
    lv_group: np.ndarray  # int64 [L], decay group
    lv_share: np.ndarray  # float64 [L], share of the side's USD
    cross: np.ndarray  # int32 [n, L], first crossing candle (global index)
    expiry: np.ndarray  # int64 [W, n], candle at which the seed leaves window w (global index)
    post: np.ndarray  # float64 [G, n], log survival at the end of each candle
    pre: np.ndarray  # float64 [G, n], log survival before each candle's closing
    cluster_threshold: float  # share of the strongest bucket that makes a cluster
    offset: int  # global index of row 0


class EngineState(NamedTuple):
    """What the state machine carries from one candle to the next (``new_state``).

    Masses are in rescaled units: a level of USD m seeded at s is stored as
    ``m·unit[s, g]`` with ``unit[s, g] = exp(base[g] − post[g, s])``.
    """

    stored: np.ndarray  # float64 [W, 2, 2, G, n_buckets], [w, side, 0] sums, [w, side, 1] compensations
    cnt_g: np.ndarray  # int32 [W, 2, G, n_buckets], live levels per group and bucket
    cnt: np.ndarray  # int32 [W, 2, n_buckets], live levels per bucket
    total: np.ndarray  # float64 [W, 2, G, 2], (compensated sum, compensation) over buckets
    alive: np.ndarray  # int64 [W, 2, G], live levels per group
    lo: np.ndarray  # int64 [W, 2], lowest possibly occupied bucket
    hi: np.ndarray  # int64 [W, 2], highest possibly occupied bucket
    base: np.ndarray  # float64 [G], log scale of the stored units
    exp_ptr: np.ndarray  # int64 [W], next seed candle to expire from window w
    unit: np.ndarray  # float64 [capacity, G], a seed candle's stored units per USD
    first_seed: np.ndarray  # int64 [W], first seed candle window w holds (a chunk's warm-up, else 0)


class Scratch(NamedTuple):
    """``advance_nb``'s working arrays; every candle writes them before it reads them."""

    scale: np.ndarray  # float64 [G], per-group factors of candle t
    pre_scale: np.ndarray  # float64 [G]
    decay_step: np.ndarray  # float64 [G]
    close_step: np.ndarray  # float64 [G]
    side_max: np.ndarray  # float64 [W, 2], strongest bucket's USD
    mixed: np.ndarray  # float64 [W, n_buckets], USD per bucket (several decay groups)
    conf_k: np.ndarray  # float64 [W]


def new_scratch(n_win, n_groups, n_buckets):
    """``Scratch`` for one ``advance_nb`` caller (one per thread)."""
    return Scratch(np.empty(n_groups), np.empty(n_groups), np.empty(n_groups), np.empty(n_groups),
                   np.zeros((n_win, 2)), np.zeros((n_win, n_buckets)), np.empty(n_win))


def _jit_without_refcounts(func):
    """``_numba.jit`` with numba's reference counting (NRT) off, for ``advance_nb``.

    With it on, every array a helper inlined into the loop receives is increfed and
    decrefed, an atomic operation each: a third of the kernel's time (0.86 s of a
    serial year of 5m candles, 0.58 s without). Without NRT a kernel cannot allocate,
    so ``advance_nb`` takes its working arrays (``Scratch``) from its caller.
    """
    if not _numba.ENABLED:
        return _numba.jit(func)
    dispatcher = _numba._njit(nogil=True, _nrt=False)(func)
    _numba._attach_cache(dispatcher)
    return dispatcher


def new_state(n_win, n_groups, n_buckets, capacity, first_seed=None):
    """Empty ``EngineState`` (plain NumPy: it runs once per run, from Python).

    ``capacity`` is the number of seed candles the arrays can hold (unit[s, g]).
    ``first_seed[w]`` (default 0) is the first seed candle window w takes in: a chunk's
    warm-up seeds each window only from the first seed still in it at the chunk's first
    reported candle (``liqrisk.core.engine``).
    Allocating these arrays inside numba compiled one ``np.zeros``/``np.full``
    specialisation per shape and dtype, about 1.4 s of a cold start.
    """
    stored = np.zeros((n_win, 2, 2, n_groups, n_buckets))  # (compensated sum, compensation) planes
    cnt_g = np.zeros((n_win, 2, n_groups, n_buckets), dtype=np.int32)
    cnt = np.zeros((n_win, 2, n_buckets), dtype=np.int32)
    total = np.zeros((n_win, 2, n_groups, 2))  # (compensated sum, compensation)
    alive = np.zeros((n_win, 2, n_groups), dtype=np.int64)
    lo = np.full((n_win, 2), n_buckets, dtype=np.int64)
    hi = np.full((n_win, 2), -1, dtype=np.int64)
    base = np.zeros(n_groups)
    first = np.zeros(n_win, dtype=np.int64) if first_seed is None else np.asarray(first_seed, dtype=np.int64)
    exp_ptr = first.copy()  # seeds before first_seed[w] never entered window w
    # unit[s, g] = exp(base[g] − post[g, s]): a seed candle's stored units per USD.
    unit = np.zeros((capacity, n_groups))
    return EngineState(stored, cnt_g, cnt, total, alive, lo, hi, base, exp_ptr, unit, first)


@_jit_without_refcounts
def advance_nb(state, inputs, t_from, t_to, events, result, scratch, report):
    """Advance ``state`` (``EngineState``, from ``new_state``) over candles [t_from, t_to),
    with working arrays ``scratch`` (``new_scratch``).

    Order within candle t (``liqrisk.core.reference`` follows the same order): decay to
    t, expire levels that left the window, consume levels crossed by t's wick (their USD
    is t's estimated liquidation), close ``close_frac[t]`` of the rest, seed t's new
    levels, record features.

    Masses are kept per (window, side, decay group, bucket) in rescaled units (see
    ``EngineState``): closing and decay multiply every level of a group by the same
    factor, so removing a level subtracts exactly what was added.

    Reads ``inputs`` (``EngineInputs``) and writes the estimates of those candles into
    ``result`` (``RawResult``) at their local index; with ``report`` also their ledger,
    clusters and confluence (a chunk's warm-up moves the state only: about half the
    cost). ``events`` are the consumption events of those candles
    (``kernels.consumption_events_nb``).
    """
    # Local names for the loop below (numba reads a named tuple's field at no cost).
    stored, cnt_g, cnt, total, alive, lo, hi, base, exp_ptr, unit, first_seed = state
    (ref_bucket, level_bucket, seed_usd, intra_usd, lv_side, lv_group, lv_share,
     cross, expiry, post, pre, cluster_threshold, offset) = inputs
    ev_starts, ev_seed, ev_level = events
    out, conf, ledger, seeded = result
    n, n_levels = level_bucket.shape
    n_win = expiry.shape[0]
    n_groups = post.shape[0]
    n_buckets = stored.shape[4]
    scale, pre_scale, decay_step, close_step, side_max, mixed, conf_k = scratch
    tie_pow = (1.0 + TIE_RTOL) ** n_win
    # The books as rows [(w, side, sum|compensation, g), bucket]: a scan reads one row by
    # index (a view per scan would cost two atomic reference counts).
    planes = stored.reshape(n_win * 4 * n_groups, n_buckets)

    for t in range(t_from, t_to):
        # Per-group scale changes over t, shared by every window and side. scale[g] still
        # holds t - 1's exp(post[g, t - 1] − base[g]) (base has not moved since), and from
        # here on t's exp(post[g, t] − base[g]): two exps fewer per group and candle.
        for g in range(n_groups):
            pre_scale[g] = np.exp(pre[g, t] - base[g])
            if t > 0:
                prev = scale[g] if t > t_from else np.exp(post[g, t - 1] - base[g])
                decay_step[g] = prev - pre_scale[g]
            else:
                decay_step[g] = 0.0
            scale[g] = np.exp(post[g, t] - base[g])
            close_step[g] = pre_scale[g] - scale[g]
        for w in range(n_win):
            if report and t > 0:
                for side in range(2):
                    for g in range(n_groups):
                        if alive[w, side, g] > 0:
                            ledger[w, DECAYED, t] += total_nb(total, w, side, g) * decay_step[g]
            # Expire: every seed candle whose window has passed, in seed order.
            while exp_ptr[w] < n and expiry[w, exp_ptr[w]] - offset <= t:
                s = exp_ptr[w]
                end = expiry[w, s] - offset
                for lv in range(n_levels):
                    b = level_bucket[s, lv]
                    if b < 0 or cross[s, lv] - offset < end:
                        continue  # void, or consumed while in the window
                    side = lv_side[lv]
                    g = lv_group[lv]
                    amount = seed_usd[s, side] * lv_share[lv] * unit[s, g]
                    ledger[w, EXPIRED, t] += amount * pre_scale[g]
                    remove_nb(stored, cnt_g, cnt, total, alive, w, side, g, b, amount)
                exp_ptr[w] += 1
            # Consume: levels first crossed by this candle's wick, if still in the window,
            # plus the positions opened and liquidated within the candle.
            est_long = intra_usd[t, 0]
            est_short = intra_usd[t, 1]
            for e in range(ev_starts[t - t_from], ev_starts[t - t_from + 1]):
                s = ev_seed[e]
                lv = ev_level[e]
                if s < first_seed[w] or expiry[w, s] - offset <= t:
                    continue  # never entered this window, or left it
                side = lv_side[lv]
                g = lv_group[lv]
                amount = seed_usd[s, side] * lv_share[lv] * unit[s, g]
                usd = amount * pre_scale[g]
                if side == 0:
                    est_long += usd
                else:
                    est_short += usd
                remove_nb(stored, cnt_g, cnt, total, alive, w, side, g, level_bucket[s, lv], amount)
            out[w, 0, EST, t] = est_long
            out[w, 1, EST, t] = est_short
            if not report:
                continue
            for side in range(2):
                for g in range(n_groups):
                    if alive[w, side, g] > 0:
                        ledger[w, CLOSED, t] += total_nb(total, w, side, g) * close_step[g]

        for g in range(n_groups):
            if base[g] - post[g, t] > REBASE_LOG:
                f = scale[g]
                # Loops, not ``stored[:, :, g, :] *= f``: an array expression costs a
                # broadcasting specialisation (and its error-message strings) to compile.
                for w in range(n_win):
                    for side in range(2):
                        for b in range(n_buckets):
                            stored[w, side, 0, g, b] *= f
                            stored[w, side, 1, g, b] *= f
                        total[w, side, g, 0] *= f
                        total[w, side, g, 1] *= f
                for s in range(t):
                    unit[s, g] *= f
                base[g] = post[g, t]
                scale[g] = np.exp(post[g, t] - base[g])
            unit[t, g] = np.exp(base[g] - post[g, t])

        # Seed: levels opened during t; consumable from t + 1 on. Same-candle
        # liquidations count as seeded here and consumed above.
        seeded[t] += intra_usd[t, 0] + intra_usd[t, 1]
        for lv in range(n_levels):
            b = level_bucket[t, lv]
            if b < 0:
                continue
            side = lv_side[lv]
            g = lv_group[lv]
            m = seed_usd[t, side] * lv_share[lv]
            seeded[t] += m
            amount = m * unit[t, g]
            for w in range(n_win):
                if t < first_seed[w]:
                    continue
                bucket_add_nb(stored, w, side, g, b, amount)
                neumaier_add_nb(total, w, side, g, amount)
                cnt_g[w, side, g, b] += 1
                cnt[w, side, b] += 1
                alive[w, side, g] += 1
                if b < lo[w, side]:
                    lo[w, side] = b
                if b > hi[w, side]:
                    hi[w, side] = b

        if not report:
            continue
        # Features.
        rb = ref_bucket[t]
        for w in range(n_win):
            for side in range(2):
                tot = 0.0
                for g in range(n_groups):
                    if alive[w, side, g] > 0:
                        tot += total_nb(total, w, side, g) * scale[g]
                out[w, side, OUTSTANDING, t] = tot if tot > 0.0 else 0.0
                while lo[w, side] <= hi[w, side] and cnt[w, side, lo[w, side]] == 0:
                    lo[w, side] += 1
                while hi[w, side] >= lo[w, side] and cnt[w, side, hi[w, side]] == 0:
                    hi[w, side] -= 1
                side_max[w, side] = 0.0
                out[w, side, NEAR_USD, t] = 0.0
                out[w, side, STRONG_USD, t] = 0.0
                out[w, side, NEAR_BUCKET, t] = -1.0
                out[w, side, STRONG_BUCKET, t] = -1.0
                if rb < 0 or lo[w, side] > hi[w, side]:
                    continue
                # Long levels are read at and below the price, short levels at and above.
                if side == 0:
                    first = min(rb, hi[w, side])
                    last = lo[w, side]
                    step = -1
                else:
                    first = max(rb, lo[w, side])
                    last = hi[w, side]
                    step = 1
                if (last - first) * step < 0:
                    continue
                if n_groups == 1:
                    # Stored units are USD times one common factor: scan them directly.
                    top, nb_, nm_, sb_, sm_ = scan_row_nb(planes, (w * 2 + side) * 2, planes, (w * 2 + side) * 2 + 1,
                                                          True, first, last, step, cluster_threshold)
                    unit_usd = scale[0]
                else:
                    # USD per bucket; the confluence below reads these rows again.
                    mix_row_nb(stored, w, side, min(first, last), max(first, last), scale, mixed)
                    top, nb_, nm_, sb_, sm_ = scan_row_nb(mixed, w, mixed, w, False, first, last, step,
                                                          cluster_threshold)
                    unit_usd = 1.0
                top *= unit_usd
                nm_ *= unit_usd
                sm_ *= unit_usd
                side_max[w, side] = top
                if top > 0.0:
                    out[w, side, NEAR_BUCKET, t] = nb_
                    out[w, side, NEAR_USD, t] = nm_
                    out[w, side, STRONG_BUCKET, t] = sb_
                    out[w, side, STRONG_USD, t] = sm_

        # Confluence: the bucket where every window's normalised USD is jointly highest.
        if n_win >= 2:
            for side in range(2):
                conf[side, 0, t] = 0.0
                conf[side, 1, t] = -1.0
                if rb < 0:
                    continue
                first = -1
                last = n_buckets
                ok = True
                for w in range(n_win):
                    if side_max[w, side] <= 0.0:
                        ok = False
                    first = max(first, lo[w, side])
                    last = min(last, hi[w, side])
                if not ok:
                    continue
                if side == 0:
                    first, last = min(rb, last), first
                    step = -1
                else:
                    first = max(rb, first)
                    step = 1
                if (last - first) * step < 0:
                    continue
                # Product of normalised USD across windows; its W-th root is the score.
                # Each factor is <= 1, so a bucket whose first factor cannot beat the
                # best product is skipped without reading the other windows.
                for w in range(n_win):
                    conf_k[w] = 1.0 / side_max[w, side]
                    if n_groups > 1:
                        # The price's bucket is in both sides' rows; the other side wrote it last.
                        mix_row_nb(stored, w, side, rb, rb, scale, mixed)
                best, best_b = confluence_nb(stored, mixed, side, first, last, step, scale, conf_k, tie_pow)
                conf[side, 0, t] = best ** (1.0 / n_win)
                conf[side, 1, t] = best_b
