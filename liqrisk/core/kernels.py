"""numba kernels of the liquidation engine: levels, crossings and consumption.

Conventions, stated once for every engine kernel module (this one,
``liqrisk.core.kernels_book`` and ``liqrisk.core.kernels_engine``):

* Axis 0 is time (candles, oldest first). Values are float64 unless named otherwise.
* A *level* is (seed candle s, level index l) with ``l = side·K·3 + k·3 + j``:
  side 0 = long, 1 = short; k the leverage tier; j the entry point (close, high, low).
* ``level_bucket[s, l] == -1`` marks a void level (zero USD or no valid price); every
  kernel skips it.
* Missing consumption data is encoded as ``low = +inf`` / ``high = -inf``, never NaN.
* ``cross[s, l]`` is the first candle u > s whose low <= price (long) or high >= price
  (short), searched only up to the level's horizon; ``n`` means "not crossed in time".

This module holds the constants every engine kernel shares (output slots, ledger slots,
tolerances) and the kernels that run before or beside the state machine: level buckets,
first crossings, consumption events and the dense heatmap. The state machine itself is
``liqrisk.core.kernels_engine``; the bucket book it keeps, ``liqrisk.core.kernels_book``.

Each fast kernel has a plain counterpart: ``liqrisk.core.reference`` simulates the same rules
candle by candle, and the tests compare the two.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from liqrisk.core._numba import jit

#: Rescale a decay group's stored units once they drift this far (natural log) from
#: the current scale; exp(±300) is far inside float64's range.
REBASE_LOG = 300.0
#: Relative tolerance under which two bucket masses count as equal (ties go to the
#: bucket nearer the price), so that rounding cannot flip which cluster is chosen.
TIE_RTOL = 1e-9

#: Marks a void level's absolute bucket before ``rebase_buckets_nb`` (int32 minimum).
VOID = np.int32(-(2**31))

# Feature slots of the per-window output array out[w, side, slot, t].
EST, OUTSTANDING, NEAR_BUCKET, NEAR_USD, STRONG_BUCKET, STRONG_USD = range(6)
N_SLOTS = 6
# Ledger slots: ledger[w, slot, t]
EXPIRED, CLOSED, DECAYED = range(3)


class Events(NamedTuple):
    """Consumption events of candles [t_from, t_to), grouped by candle (CSR).

    The events of candle t are ``seed[e], level[e]`` for e in
    ``starts[t − t_from] .. starts[t − t_from + 1] − 1``.
    """

    starts: np.ndarray  # int64 [t_to − t_from + 1]
    seed: np.ndarray  # int32 [E], seed candle (index local to the arrays)
    level: np.ndarray  # int16 [E], level index


# Levels ---------------------------------------------------------------------------------


@jit
def build_levels_nb(entry, factor, seed_usd, level_share, inv_log_step):
    """Absolute log-price buckets of every level, one pass over [n, L], no price array.

    Level price ``entry[t, j] · factor[side, k]``; bucket ``floor(ln(price)/ln(1+w))``.
    A level is void (bucket ``VOID``) when its USD is zero or its price is not a
    positive finite number. Returns (bucket int32 [n, L], min and max live bucket).
    """
    n = entry.shape[0]
    n_tiers = factor.shape[1]
    n_levels = 2 * n_tiers * 3
    bucket = np.empty((n, n_levels), dtype=np.int32)
    b_min = np.iinfo(np.int64).max
    b_max = np.iinfo(np.int64).min
    for t in range(n):
        for side in range(2):
            for k in range(n_tiers):
                for j in range(3):
                    lv = side * n_tiers * 3 + k * 3 + j
                    p = entry[t, j] * factor[side, k]
                    if seed_usd[t, side] * level_share[lv] > 0.0 and p > 0.0 and np.isfinite(p):
                        b = np.int64(np.floor(np.log(p) * inv_log_step))
                        bucket[t, lv] = b
                        if b < b_min:
                            b_min = b
                        if b > b_max:
                            b_max = b
                    else:
                        bucket[t, lv] = VOID
    return bucket, b_min, b_max


@jit
def rebase_buckets_nb(bucket, origin):
    """In place: absolute buckets become relative to ``origin``; void ones become −1."""
    for t in range(bucket.shape[0]):
        for lv in range(bucket.shape[1]):
            b = bucket[t, lv]
            bucket[t, lv] = -1 if b == VOID else b - origin


@jit
def level_tables_nb(tier_weight, entry_weight, tier_group):
    """Per level index: side, decay group and USD share (integer division is slow in hot loops)."""
    n_tiers = tier_weight.shape[0]
    per_side = n_tiers * 3
    n_levels = 2 * per_side
    lv_side = np.empty(n_levels, dtype=np.int64)
    lv_group = np.empty(n_levels, dtype=np.int64)
    lv_share = np.empty(n_levels)
    for lv in range(n_levels):
        k = (lv % per_side) // 3
        lv_side[lv] = lv // per_side
        lv_group[lv] = tier_group[k]
        lv_share[lv] = tier_weight[k] * entry_weight[lv % 3]
    return lv_side, lv_group, lv_share


# Crossings ------------------------------------------------------------------------------


@jit
def sparse_table_nb(values, n_log, use_max):
    """``table[j, i] = min (or max) of values[i : i + 2**j]``; entries whose block runs
    past the end hold a partial block and are never read by ``first_crossing_nb``."""
    n = values.shape[0]
    table = np.empty((n_log, n))
    for i in range(n):  # a loop: ``table[0, :] = values`` compiles numba's broadcasting (about 2 s cold)
        table[0, i] = values[i]
    for j in range(1, n_log):
        half = 1 << (j - 1)
        for i in range(n):
            a = table[j - 1, i]
            if i + half < n:
                b = table[j - 1, i + half]
                if use_max:
                    a = a if a >= b else b
                else:
                    a = a if a <= b else b
            table[j, i] = a
    return table


@jit
def first_crossing_nb(entry, factor, level_bucket, mins, maxs, horizon, n_log, s0, s1):
    """First candle crossing each level seeded in [s0, s1), or n if none before ``horizon[s]``.

    Level prices are ``entry[s, j] · factor[side, k]``, computed here rather than stored
    (the same IEEE product as ``ModelInputs.level_price``). Binary lifting over sparse
    tables (``mins`` of consumption lows, ``maxs`` of highs, from ``sparse_table_nb``):
    from s + 1, jump over every power-of-two block that stays on the safe side of the
    level, so each level costs O(log window) instead of a scan. ``n_log`` must satisfy
    2**n_log > the longest horizon span. Returns int32 [s1 − s0, L] of global indices.

    About half the levels are never crossed before their horizon: the lowest low (highest
    high) over [s + 1, horizon), two table reads, tells those apart before any lifting.
    The tables hold exact minima (lows are +inf, never NaN, where a candle cannot
    consume), so this gives the same answer as the lifting it skips.
    """
    n = level_bucket.shape[0]
    n_levels = level_bucket.shape[1]
    n_tiers = factor.shape[1]
    per_side = n_tiers * 3
    out = np.full((s1 - s0, n_levels), n, dtype=np.int32)
    for s in range(s0, s1):
        a = s + 1
        b = horizon[s]
        if a >= b:
            continue
        k = 0
        while (2 << k) <= b - a:
            k += 1
        low = min(mins[k, a], mins[k, b - (1 << k)])  # two blocks of 2**k covering [a, b)
        high = max(maxs[k, a], maxs[k, b - (1 << k)])
        for lv in range(n_levels):
            if level_bucket[s, lv] < 0:
                continue
            side = lv // per_side
            p = entry[s, lv % 3] * factor[side, (lv % per_side) // 3]
            if (side == 0 and low > p) or (side == 1 and high < p):
                continue  # never crossed before the horizon
            pos = a
            if side == 0:
                for j in range(n_log - 1, -1, -1):
                    step = 1 << j
                    if pos + step <= b and mins[j, pos] > p:
                        pos += step
            else:
                for j in range(n_log - 1, -1, -1):
                    step = 1 << j
                    if pos + step <= b and maxs[j, pos] < p:
                        pos += step
            if pos < b:
                out[s - s0, lv] = pos
    return out


@jit
def mark_crossings_nb(entry, factor, level_bucket, cons_low, cons_high, cross, never, s_from, t):
    """Live path: record candle t as the crossing of every not-yet-crossed level seeded
    in [s_from, t) that t's wick reaches (``cross == never`` means not crossed yet)."""
    lo_t = cons_low[t]
    hi_t = cons_high[t]
    per_side = factor.shape[1] * 3
    for s in range(s_from, t):
        for lv in range(level_bucket.shape[1]):
            if level_bucket[s, lv] < 0 or cross[s, lv] != never:
                continue
            side = lv // per_side
            p = entry[s, lv % 3] * factor[side, (lv % per_side) // 3]
            if (side == 0 and lo_t <= p) or (side == 1 and hi_t >= p):
                cross[s, lv] = t


# Consumption and pictures ---------------------------------------------------------------


@jit
def consumption_events_nb(level_bucket, cross, offset, t_from, t_to, s_from):
    """Levels seeded at or after ``s_from`` and consumed in candles [t_from, t_to),
    grouped by candle: ``Events`` (seed indices are local).
    """
    n_levels = level_bucket.shape[1]
    span = t_to - t_from
    starts = np.zeros(span + 1, dtype=np.int64)
    for s in range(s_from, t_to):
        for lv in range(n_levels):
            u = cross[s, lv] - offset
            if level_bucket[s, lv] >= 0 and t_from <= u < t_to:
                starts[u - t_from + 1] += 1
    for i in range(span):
        starts[i + 1] += starts[i]
    ev_seed = np.empty(starts[span], dtype=np.int32)
    ev_level = np.empty(starts[span], dtype=np.int16)
    fill = starts[:span].copy()
    for s in range(s_from, t_to):
        for lv in range(n_levels):
            u = cross[s, lv] - offset
            if level_bucket[s, lv] >= 0 and t_from <= u < t_to:
                ev_seed[fill[u - t_from]] = s
                ev_level[fill[u - t_from]] = lv
                fill[u - t_from] += 1
    return Events(starts, ev_seed, ev_level)


@jit
def dense_heatmap_nb(level_bin, level_bucket, seed_usd, tier_weight, entry_weight, tier_group,
                     cross, expiry, post, t0, t1, n_bins):
    """Outstanding USD per (side, candle, price bin) at the end of candles t0..t1−1,
    for one window. ``level_bin`` maps each level to a heatmap price bin (−1 = off grid).

    Direct summation, level by level over its life: independent of ``kernels_engine.advance_nb``'s
    rescaled histograms, so the tests can check one against the other.
    """
    n, n_levels = level_bucket.shape
    per_side = tier_weight.shape[0] * 3
    heat = np.zeros((2, t1 - t0, n_bins))
    # Survival from candle t to t + 1 per group: one multiply per (level, candle), no exp.
    step = np.exp(post[:, 1:] - post[:, :-1])
    for s in range(t1):
        if expiry[s] <= t0:
            continue
        for lv in range(n_levels):
            pb = level_bin[s, lv]
            if level_bucket[s, lv] < 0 or pb < 0:
                continue
            side = lv // per_side
            k = (lv % per_side) // 3
            g = tier_group[k]
            end = min(cross[s, lv], expiry[s], t1)
            first = max(s, t0)
            if first >= end:
                continue
            m = seed_usd[s, side] * (tier_weight[k] * entry_weight[lv % 3]) * np.exp(post[g, first] - post[g, s])
            for t in range(first, end):
                heat[side, t - t0, pb] += m
                if t + 1 < end:
                    m *= step[g, t]
    return heat
