"""numba kernels of the liquidation engine.

Conventions, stated once for the module:

* Axis 0 is time (candles, oldest first). Values are float64 unless named otherwise.
* A *level* is (seed candle s, level index l) with ``l = side·K·3 + k·3 + j``:
  side 0 = long, 1 = short; k the leverage tier; j the entry point (close, high, low).
* ``level_bucket[s, l] == -1`` marks a void level (zero USD or no valid price); every
  kernel skips it.
* Missing consumption data is encoded as ``low = +inf`` / ``high = -inf``, never NaN.
* ``cross[s, l]`` is the first candle u > s whose low <= price (long) or high >= price
  (short), searched only up to the level's horizon; ``n`` means "not crossed in time".

Each fast kernel has a plain counterpart: ``liqrisk.reference`` simulates the same rules
candle by candle, and the tests compare the two.
"""

from __future__ import annotations

import numpy as np

from liqrisk.core._numba import jit

#: Rescale a decay group's stored units once they drift this far (natural log) from
#: the current scale; exp(±300) is far inside float64's range.
REBASE_LOG = 300.0
#: Relative tolerance under which two bucket masses count as equal (ties go to the
#: bucket nearer the price), so that rounding cannot flip which cluster is chosen.
TIE_RTOL = 1e-9

# Feature slots of the per-window output array out[w, side, slot, t].
EST, OUTSTANDING, NEAR_BUCKET, NEAR_USD, STRONG_BUCKET, STRONG_USD = range(6)
N_SLOTS = 6
# Ledger slots: ledger[w, slot, t]
EXPIRED, CLOSED, DECAYED = range(3)


@jit
def sparse_table_nb(values, n_log, use_max):
    """``table[j, i] = min (or max) of values[i : i + 2**j]``; entries whose block runs
    past the end hold a partial block and are never read by ``first_crossing_nb``."""
    n = values.shape[0]
    table = np.empty((n_log, n))
    table[0, :] = values
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
def first_crossing_nb(level_price, level_bucket, per_side, cons_low, cons_high, horizon, n_log):
    """First candle that crosses each level, or n if none before ``horizon[s]``.

    Binary lifting over sparse tables: from s + 1, jump over every power-of-two block
    whose min low (max high) stays on the safe side of the level, so each level costs
    O(log window) instead of a scan. ``n_log`` must satisfy 2**n_log > max horizon span.
    """
    n, n_levels = level_price.shape
    mins = sparse_table_nb(cons_low, n_log, False)
    maxs = sparse_table_nb(cons_high, n_log, True)
    out = np.full((n, n_levels), n, dtype=np.int32)
    for s in range(n):
        a = s + 1
        b = horizon[s]
        if a >= b:
            continue
        for lv in range(n_levels):
            if level_bucket[s, lv] < 0:
                continue
            p = level_price[s, lv]
            pos = a
            if lv < per_side:
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
                out[s, lv] = pos
    return out


@jit
def _remove_nb(stored, cnt_g, cnt, total, alive, w, side, g, b, amount):
    stored[w, side, g, b] -= amount
    total[w, side, g] -= amount
    cnt_g[w, side, g, b] -= 1
    cnt[w, side, b] -= 1
    alive[w, side, g] -= 1
    # Exact zeros where nothing is left, so subtraction residue never looks like a cluster.
    if cnt_g[w, side, g, b] == 0:
        stored[w, side, g, b] = 0.0
    if alive[w, side, g] == 0:
        total[w, side, g] = 0.0


@jit
def _bucket_usd_nb(stored, w, side, b, scale):
    m = 0.0
    for g in range(scale.shape[0]):
        m += stored[w, side, g, b] * scale[g]
    return m if m > 0.0 else 0.0


@jit
def engine_nb(
    ref_bucket, level_bucket, seed_usd, tier_weight, entry_weight, tier_group,
    cross, expiry, post, pre, n_buckets, cluster_threshold,
):
    """Run the state machine over all candles and windows.

    Order within candle t (the reference follows the same order):
    decay to t, expire levels that left the window, consume levels crossed by t's
    wick (their USD is t's estimated liquidation), close ``close_frac[t]`` of the rest,
    seed t's new levels, record features.

    Masses are kept per (window, side, decay group, bucket) in rescaled units: a level
    of USD m seeded at s is stored as ``m·exp(base[g] − post[g, s])`` and is worth
    ``stored·exp(post[g, t] − base[g])`` at t, because closing and decay multiply every
    level of a group by the same factor. Removing a level subtracts exactly what was
    added. Returns ``(out[W, 2, 6, n], conf[2, 2, n], ledger[W, 3, n], seeded[n])``.
    """
    n, n_levels = level_bucket.shape
    n_tiers = tier_weight.shape[0]
    per_side = n_tiers * 3
    n_win = expiry.shape[0]
    n_groups = post.shape[0]

    out = np.full((n_win, 2, N_SLOTS, n), np.nan)
    conf = np.full((2, 2, n), np.nan)
    ledger = np.zeros((n_win, 3, n))
    seeded = np.zeros(n)

    # Consumption events grouped by candle (CSR).
    starts = np.zeros(n + 1, dtype=np.int64)
    for s in range(n):
        for lv in range(n_levels):
            if level_bucket[s, lv] >= 0 and cross[s, lv] < n:
                starts[cross[s, lv] + 1] += 1
    for t in range(n):
        starts[t + 1] += starts[t]
    events = np.empty(starts[n], dtype=np.int64)
    fill = starts[:n].copy()
    for s in range(n):
        for lv in range(n_levels):
            if level_bucket[s, lv] >= 0 and cross[s, lv] < n:
                u = cross[s, lv]
                events[fill[u]] = s * n_levels + lv
                fill[u] += 1

    stored = np.zeros((n_win, 2, n_groups, n_buckets))
    cnt_g = np.zeros((n_win, 2, n_groups, n_buckets), dtype=np.int32)
    cnt = np.zeros((n_win, 2, n_buckets), dtype=np.int32)
    total = np.zeros((n_win, 2, n_groups))
    alive = np.zeros((n_win, 2, n_groups), dtype=np.int64)
    lo = np.full((n_win, 2), n_buckets, dtype=np.int64)
    hi = np.full((n_win, 2), -1, dtype=np.int64)
    base = np.zeros(n_groups)
    exp_ptr = np.zeros(n_win, dtype=np.int64)
    scale = np.empty(n_groups)
    side_max = np.zeros((n_win, 2))

    for t in range(n):
        for w in range(n_win):
            if t > 0:
                for side in range(2):
                    for g in range(n_groups):
                        if alive[w, side, g] > 0:
                            tot = total[w, side, g]
                            ledger[w, DECAYED, t] += tot * (
                                np.exp(post[g, t - 1] - base[g]) - np.exp(pre[g, t] - base[g])
                            )
            # Expire: every seed candle whose window has passed, in seed order.
            while exp_ptr[w] < n and expiry[w, exp_ptr[w]] <= t:
                s = exp_ptr[w]
                end = expiry[w, s]
                for lv in range(n_levels):
                    b = level_bucket[s, lv]
                    if b < 0 or cross[s, lv] < end:
                        continue  # void, or consumed while in the window
                    side = lv // per_side
                    k = (lv % per_side) // 3
                    g = tier_group[k]
                    m = seed_usd[s, side] * tier_weight[k] * entry_weight[lv % 3]
                    ledger[w, EXPIRED, t] += m * np.exp(pre[g, t] - post[g, s])
                    _remove_nb(stored, cnt_g, cnt, total, alive, w, side, g, b, m * np.exp(base[g] - post[g, s]))
                exp_ptr[w] += 1
            # Consume: levels first crossed by this candle's wick, if still in the window.
            est_long = 0.0
            est_short = 0.0
            for e in range(starts[t], starts[t + 1]):
                s = events[e] // n_levels
                lv = events[e] % n_levels
                if expiry[w, s] <= t:
                    continue
                side = lv // per_side
                k = (lv % per_side) // 3
                g = tier_group[k]
                m = seed_usd[s, side] * tier_weight[k] * entry_weight[lv % 3]
                usd = m * np.exp(pre[g, t] - post[g, s])
                if side == 0:
                    est_long += usd
                else:
                    est_short += usd
                _remove_nb(stored, cnt_g, cnt, total, alive, w, side, g, level_bucket[s, lv],
                           m * np.exp(base[g] - post[g, s]))
            out[w, 0, EST, t] = est_long
            out[w, 1, EST, t] = est_short
            for side in range(2):
                for g in range(n_groups):
                    if alive[w, side, g] > 0:
                        ledger[w, CLOSED, t] += total[w, side, g] * (
                            np.exp(pre[g, t] - base[g]) - np.exp(post[g, t] - base[g])
                        )

        for g in range(n_groups):
            if base[g] - post[g, t] > REBASE_LOG:
                f = np.exp(post[g, t] - base[g])
                stored[:, :, g, :] *= f
                total[:, :, g] *= f
                base[g] = post[g, t]
            scale[g] = np.exp(post[g, t] - base[g])

        # Seed: levels opened during t; consumable from t + 1 on.
        for lv in range(n_levels):
            b = level_bucket[t, lv]
            if b < 0:
                continue
            side = lv // per_side
            k = (lv % per_side) // 3
            g = tier_group[k]
            m = seed_usd[t, side] * tier_weight[k] * entry_weight[lv % 3]
            seeded[t] += m
            unit = m * np.exp(base[g] - post[g, t])
            for w in range(n_win):
                stored[w, side, g, b] += unit
                total[w, side, g] += unit
                cnt_g[w, side, g, b] += 1
                cnt[w, side, b] += 1
                alive[w, side, g] += 1
                if b < lo[w, side]:
                    lo[w, side] = b
                if b > hi[w, side]:
                    hi[w, side] = b

        # Features.
        rb = ref_bucket[t]
        for w in range(n_win):
            for side in range(2):
                tot = 0.0
                for g in range(n_groups):
                    if alive[w, side, g] > 0:
                        tot += total[w, side, g] * scale[g]
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
                top = 0.0
                b = first
                while True:
                    m = _bucket_usd_nb(stored, w, side, b, scale)
                    if m > top:
                        top = m
                    if b == last:
                        break
                    b += step
                side_max[w, side] = top
                if top <= 0.0:
                    continue
                near_found = False
                b = first
                while True:
                    m = _bucket_usd_nb(stored, w, side, b, scale)
                    if not near_found and m >= cluster_threshold * top * (1.0 - TIE_RTOL):
                        out[w, side, NEAR_BUCKET, t] = b
                        out[w, side, NEAR_USD, t] = m
                        near_found = True
                    if m >= top * (1.0 - TIE_RTOL):
                        out[w, side, STRONG_BUCKET, t] = b
                        out[w, side, STRONG_USD, t] = m
                        break
                    if b == last:
                        break
                    b += step

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
                best = 0.0
                b = first
                while True:
                    acc = 0.0
                    for w in range(n_win):
                        m = _bucket_usd_nb(stored, w, side, b, scale)
                        if m <= 0.0:
                            acc = -np.inf
                            break
                        acc += np.log(m / side_max[w, side])
                    if acc > -np.inf:
                        score = np.exp(acc / n_win)
                        if score > best * (1.0 + TIE_RTOL):
                            best = score
                            conf[side, 0, t] = score
                            conf[side, 1, t] = b
                    if b == last:
                        break
                    b += step
    return out, conf, ledger, seeded


@jit
def dense_heatmap_nb(level_bin, level_bucket, seed_usd, tier_weight, entry_weight, tier_group,
                     cross, expiry, post, t0, t1, n_bins):
    """Outstanding USD per (side, candle, price bin) at the end of candles t0..t1−1,
    for one window. ``level_bin`` maps each level to a heatmap price bin (−1 = off grid).

    Direct summation, level by level over its life: independent of ``engine_nb``'s
    rescaled histograms, so the tests can check one against the other.
    """
    n, n_levels = level_bucket.shape
    per_side = tier_weight.shape[0] * 3
    heat = np.zeros((2, t1 - t0, n_bins))
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
            m = seed_usd[s, side] * tier_weight[k] * entry_weight[lv % 3]
            end = min(cross[s, lv], expiry[s], t1)
            for t in range(max(s, t0), end):
                heat[side, t - t0, pb] += m * np.exp(post[g, t] - post[g, s])
    return heat
