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

Each fast kernel has a plain counterpart: ``liqrisk.core.reference`` simulates the same rules
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

#: Marks a void level's absolute bucket before ``rebase_buckets_nb`` (int32 minimum).
VOID = np.int32(-(2**31))

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
def first_crossing_nb(entry, factor, level_bucket, mins, maxs, horizon, n_log, s0, s1):
    """First candle crossing each level seeded in [s0, s1), or n if none before ``horizon[s]``.

    Level prices are ``entry[s, j] · factor[side, k]``, computed here rather than stored
    (the same IEEE product as ``ModelInputs.level_price``). Binary lifting over sparse
    tables (``mins`` of consumption lows, ``maxs`` of highs, from ``sparse_table_nb``):
    from s + 1, jump over every power-of-two block that stays on the safe side of the
    level, so each level costs O(log window) instead of a scan. ``n_log`` must satisfy
    2**n_log > the longest horizon span. Returns int32 [s1 − s0, L] of global indices.
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
        for lv in range(n_levels):
            if level_bucket[s, lv] < 0:
                continue
            side = lv // per_side
            p = entry[s, lv % 3] * factor[side, (lv % per_side) // 3]
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


@jit(inline=True)
def _neumaier_add_nb(total, w, side, g, x):
    """``total[w, side, g]`` holds (sum, compensation): adding and later removing a
    large level must leave the small ones exact, not a residue of eps × the large one."""
    s = total[w, side, g, 0]
    t = s + x
    if abs(s) >= abs(x):
        total[w, side, g, 1] += (s - t) + x
    else:
        total[w, side, g, 1] += (x - t) + s
    total[w, side, g, 0] = t


@jit(inline=True)
def _total_nb(total, w, side, g):
    return total[w, side, g, 0] + total[w, side, g, 1]


@jit(inline=True)
def _bucket_add_nb(stored, w, side, g, b, x):
    """``stored[w, side, g, b]`` is (sum, compensation), like ``total``."""
    s = stored[w, side, g, b, 0]
    t = s + x
    if abs(s) >= abs(x):
        stored[w, side, g, b, 1] += (s - t) + x
    else:
        stored[w, side, g, b, 1] += (x - t) + s
    stored[w, side, g, b, 0] = t


@jit(inline=True)
def _remove_nb(stored, cnt_g, cnt, total, alive, w, side, g, b, amount):
    _bucket_add_nb(stored, w, side, g, b, -amount)
    _neumaier_add_nb(total, w, side, g, -amount)
    cnt_g[w, side, g, b] -= 1
    cnt[w, side, b] -= 1
    alive[w, side, g] -= 1
    # Exact zeros where nothing is left, so subtraction residue never looks like a cluster.
    if cnt_g[w, side, g, b] == 0:
        stored[w, side, g, b, 0] = 0.0
        stored[w, side, g, b, 1] = 0.0
    if alive[w, side, g] == 0:
        total[w, side, g, 0] = 0.0
        total[w, side, g, 1] = 0.0


@jit(inline=True)
def _bucket_usd_nb(book, b, scale):
    """USD in bucket b of one (window, side) book [G, n_buckets, 2], clipped at 0."""
    if scale.shape[0] == 1:  # the default: one decay group, no inner loop
        m = (book[0, b, 0] + book[0, b, 1]) * scale[0]
    else:
        m = 0.0
        for g in range(scale.shape[0]):
            m += (book[g, b, 0] + book[g, b, 1]) * scale[g]
    return m if m > 0.0 else 0.0


@jit(inline=True)
def _usd_at_nb(stored, w, side, b, scale):
    """``_bucket_usd_nb`` on the full [W, 2, G, n_buckets] array, without making a view."""
    if scale.shape[0] == 1:
        m = (stored[w, side, 0, b, 0] + stored[w, side, 0, b, 1]) * scale[0]
    else:
        m = 0.0
        for g in range(scale.shape[0]):
            m += (stored[w, side, g, b, 0] + stored[w, side, g, b, 1]) * scale[g]
    return m if m > 0.0 else 0.0


@jit
def _scan_row_nb(row, first, last, step, cluster_threshold, rec_b, rec_m):
    """Strongest value, and the nearest cluster and strongest bucket (nearest first).

    Walks once from ``first`` to ``last`` by ``step`` (away from the price) over a row
    of bucket values (negative rounding residue counts as 0). The first bucket whose
    value reaches any level X is a new running maximum (a "record"), so the nearest
    bucket above ``threshold·top`` and the nearest within TIE_RTOL of ``top`` are both
    among the records, found after the walk. ``rec_b``/``rec_m`` are scratch space.
    Returns (top, near_bucket, near_value, strong_bucket, strong_value).
    """
    n_rec = 0
    top = 0.0
    b = first
    while True:
        m = row[b, 0] + row[b, 1]
        if m > top:
            top = m
            rec_b[n_rec] = b
            rec_m[n_rec] = m
            n_rec += 1
        if b == last:
            break
        b += step
    if top <= 0.0:
        return 0.0, -1, 0.0, -1, 0.0
    near_b = -1
    near_m = 0.0
    for i in range(n_rec):
        m = rec_m[i]
        if near_b < 0 and m >= cluster_threshold * top * (1.0 - TIE_RTOL):
            near_b = rec_b[i]
            near_m = m
        if m >= top * (1.0 - TIE_RTOL):
            return top, near_b, near_m, rec_b[i], m
    return top, near_b, near_m, -1, 0.0  # unreachable: the last record is the top


@jit
def _confluence_nb(stored, side, first, last, step, scale, inv_max, tie_pow):
    """Bucket in [first .. last] (walked by ``step``) with the highest product over windows
    of USD × ``inv_max[w]``, nearest first within ``tie_pow``. Returns (product, bucket|−1).

    Each factor is <= 1, so a bucket whose first factor cannot beat the best product is
    skipped without reading the other windows. That first read is the hot one: with one
    decay group (the default) it reads the stored units directly and folds the common
    scale into ``inv_max[0]``; the generic per-bucket helper there made the scan half of
    the whole kernel.
    """
    n_win = inv_max.shape[0]
    one_group = scale.shape[0] == 1
    k0 = inv_max[0] * scale[0]
    best = 0.0
    need = 0.0
    best_b = -1
    b = first
    while True:
        if one_group:
            prod = (stored[0, side, 0, b, 0] + stored[0, side, 0, b, 1]) * k0
        else:
            prod = _usd_at_nb(stored, 0, side, b, scale) * inv_max[0]
        if prod > need:
            for w in range(1, n_win):
                prod *= _usd_at_nb(stored, w, side, b, scale) * inv_max[w]
            if prod > need:
                best = prod
                need = best * tie_pow
                best_b = b
        if b == last:
            break
        b += step
    return best, best_b


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


@jit
def consumption_events_nb(level_bucket, cross, offset, t_from, t_to, s_from):
    """Levels seeded at or after ``s_from`` and consumed in candles [t_from, t_to),
    grouped by candle (CSR). Returns (starts [t_to − t_from + 1], seed [E], level [E]);
    seed indices are local.
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
    return starts, ev_seed, ev_level


@jit
def new_state_nb(n_win, n_groups, n_buckets, capacity):
    """Empty engine state: (stored, cnt_g, cnt, total, alive, lo, hi, base, exp_ptr, unit).

    ``capacity`` is the number of seed candles the arrays can hold (unit[s, g]).
    """
    stored = np.zeros((n_win, 2, n_groups, n_buckets, 2))  # (compensated sum, compensation)
    cnt_g = np.zeros((n_win, 2, n_groups, n_buckets), dtype=np.int32)
    cnt = np.zeros((n_win, 2, n_buckets), dtype=np.int32)
    total = np.zeros((n_win, 2, n_groups, 2))  # (compensated sum, compensation)
    alive = np.zeros((n_win, 2, n_groups), dtype=np.int64)
    lo = np.full((n_win, 2), n_buckets, dtype=np.int64)
    hi = np.full((n_win, 2), -1, dtype=np.int64)
    base = np.zeros(n_groups)
    exp_ptr = np.zeros(n_win, dtype=np.int64)
    # unit[s, g] = exp(base[g] − post[g, s]): a seed candle's stored units per USD.
    unit = np.zeros((capacity, n_groups))
    return stored, cnt_g, cnt, total, alive, lo, hi, base, exp_ptr, unit


@jit
def engine_nb(
    ref_bucket, level_bucket, seed_usd, intra_usd, tier_weight, entry_weight, tier_group,
    cross, expiry, post, pre, n_buckets, cluster_threshold, offset, report_from,
    out, conf, ledger, seeded,
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
    added.

    Writes candles [report_from, n) into the caller's ``out[W, 2, 6, n]`` (NaN-filled),
    ``conf[2, 2, n]`` (NaN), ``ledger[W, 3, n]`` (zeros) and ``seeded[n]`` (zeros);
    candles before ``report_from`` are warm-up, simulated into scratch arrays.

    Chunks: the arrays may be a slice of candles starting at global index ``offset``
    (the outputs then are views of the full result over the same slice); ``cross`` and
    ``expiry`` hold global indices and are re-based here. With a hard window cut-off, a
    chunk that starts one longest window before the first candle it reports reproduces
    the full run's state there (``liqrisk.core.engine`` relies on it). Chunks write disjoint
    candles, so they can run in parallel on one result.
    """
    n = level_bucket.shape[0]
    n_win = expiry.shape[0]
    n_groups = post.shape[0]
    lv_side, lv_group, lv_share = level_tables_nb(tier_weight, entry_weight, tier_group)
    ev_starts, ev_seed, ev_level = consumption_events_nb(level_bucket, cross, offset, 0, n, 0)
    stored, cnt_g, cnt, total, alive, lo, hi, base, exp_ptr, unit = new_state_nb(n_win, n_groups, n_buckets, n)
    if report_from > 0:
        advance_nb(
            stored, cnt_g, cnt, total, alive, lo, hi, base, exp_ptr, unit,
            ref_bucket, level_bucket, seed_usd, intra_usd, lv_side, lv_group, lv_share,
            cross, expiry, post, pre, cluster_threshold, offset, 0, report_from,
            ev_starts, ev_seed, ev_level,
            np.full((n_win, 2, N_SLOTS, report_from), np.nan), np.full((2, 2, report_from), np.nan),
            np.zeros((n_win, 3, report_from)), np.zeros(report_from),
        )
    advance_nb(
        stored, cnt_g, cnt, total, alive, lo, hi, base, exp_ptr, unit,
        ref_bucket, level_bucket, seed_usd, intra_usd, lv_side, lv_group, lv_share,
        cross, expiry, post, pre, cluster_threshold, offset, report_from, n,
        ev_starts[report_from:], ev_seed, ev_level, out, conf, ledger, seeded,
    )


@jit
def advance_nb(
    stored, cnt_g, cnt, total, alive, lo, hi, base, exp_ptr, unit,
    ref_bucket, level_bucket, seed_usd, intra_usd, lv_side, lv_group, lv_share,
    cross, expiry, post, pre, cluster_threshold, offset, t_from, t_to,
    ev_starts, ev_seed, ev_level, out, conf, ledger, seeded,
):
    """Advance the state (from ``new_state_nb``) over candles [t_from, t_to).

    Writes features of those candles into ``out``/``conf``/``ledger``/``seeded`` at
    their local index. ``ev_*`` are the consumption events of those candles
    (``consumption_events_nb``). The batch engine calls it once over all candles;
    ``liqrisk.core.live`` calls it for each appended candle.
    """
    n, n_levels = level_bucket.shape
    n_win = expiry.shape[0]
    n_groups = post.shape[0]
    n_buckets = stored.shape[3]
    scale = np.empty(n_groups)
    pre_scale = np.empty(n_groups)
    decay_step = np.empty(n_groups)
    close_step = np.empty(n_groups)
    side_max = np.zeros((n_win, 2))
    tie_pow = (1.0 + TIE_RTOL) ** n_win
    rec_b = np.empty(n_buckets, dtype=np.int64)
    rec_m = np.empty(n_buckets)
    mixed = np.zeros((n_buckets, 2))
    conf_k = np.empty(n_win)

    for t in range(t_from, t_to):
        # Per-group scale changes over t, shared by every window and side.
        for g in range(n_groups):
            pre_scale[g] = np.exp(pre[g, t] - base[g])
            decay_step[g] = np.exp(post[g, t - 1] - base[g]) - pre_scale[g] if t > 0 else 0.0
            close_step[g] = pre_scale[g] - np.exp(post[g, t] - base[g])
        for w in range(n_win):
            if t > 0:
                for side in range(2):
                    for g in range(n_groups):
                        if alive[w, side, g] > 0:
                            ledger[w, DECAYED, t] += _total_nb(total, w, side, g) * decay_step[g]
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
                    _remove_nb(stored, cnt_g, cnt, total, alive, w, side, g, b, amount)
                exp_ptr[w] += 1
            # Consume: levels first crossed by this candle's wick, if still in the window,
            # plus the positions opened and liquidated within the candle.
            est_long = intra_usd[t, 0]
            est_short = intra_usd[t, 1]
            for e in range(ev_starts[t - t_from], ev_starts[t - t_from + 1]):
                s = ev_seed[e]
                lv = ev_level[e]
                if expiry[w, s] - offset <= t:
                    continue
                side = lv_side[lv]
                g = lv_group[lv]
                amount = seed_usd[s, side] * lv_share[lv] * unit[s, g]
                usd = amount * pre_scale[g]
                if side == 0:
                    est_long += usd
                else:
                    est_short += usd
                _remove_nb(stored, cnt_g, cnt, total, alive, w, side, g, level_bucket[s, lv], amount)
            out[w, 0, EST, t] = est_long
            out[w, 1, EST, t] = est_short
            for side in range(2):
                for g in range(n_groups):
                    if alive[w, side, g] > 0:
                        ledger[w, CLOSED, t] += _total_nb(total, w, side, g) * close_step[g]

        for g in range(n_groups):
            if base[g] - post[g, t] > REBASE_LOG:
                f = np.exp(post[g, t] - base[g])
                stored[:, :, g, :] *= f
                total[:, :, g] *= f
                unit[:t, g] *= f
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
                _bucket_add_nb(stored, w, side, g, b, amount)
                _neumaier_add_nb(total, w, side, g, amount)
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
                        tot += _total_nb(total, w, side, g) * scale[g]
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
                    row = stored[w, side, 0]
                    unit_usd = scale[0]
                else:
                    row = mixed
                    b = first
                    while True:
                        mixed[b, 0] = _bucket_usd_nb(stored[w, side], b, scale)
                        if b == last:
                            break
                        b += step
                    unit_usd = 1.0
                top, nb_, nm_, sb_, sm_ = _scan_row_nb(row, first, last, step, cluster_threshold, rec_b, rec_m)
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
                best, best_b = _confluence_nb(stored, side, first, last, step, scale, conf_k, tie_pow)
                conf[side, 0, t] = best ** (1.0 / n_win)
                conf[side, 1, t] = best_b


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
