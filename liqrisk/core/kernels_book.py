"""The engine's bucket book: compensated sums per (window, side, decay group, bucket),
and the two scans that read clusters from it.

Conventions as in ``liqrisk.core.kernels``. Arrays, as ``kernels_engine.EngineState``
holds them: ``stored[W, 2, 2, G, n_buckets]`` holds the sums (``[w, side, 0]``) and their
compensations (``[w, side, 1]``) in rescaled units, each a [G, n_buckets] plane so that
a scan over buckets reads contiguous memory; ``total[W, 2, G, 2]`` are (sum,
compensation) pairs; ``cnt_g``/``cnt``/``alive`` count live levels.
The helpers are inlined into ``kernels_engine.advance_nb`` (``jit(inline=True)``): they
take many arrays and cost more to call than to run.
"""

from __future__ import annotations

from liqrisk.core._numba import jit
from liqrisk.core.kernels import TIE_RTOL


@jit(inline=True)
def neumaier_add_nb(total, w, side, g, x):
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
def total_nb(total, w, side, g):
    return total[w, side, g, 0] + total[w, side, g, 1]


@jit(inline=True)
def bucket_add_nb(stored, w, side, g, b, x):
    """``stored[w, side, 0|1, g, b]`` is (sum, compensation), like ``total``."""
    s = stored[w, side, 0, g, b]
    t = s + x
    if abs(s) >= abs(x):
        stored[w, side, 1, g, b] += (s - t) + x
    else:
        stored[w, side, 1, g, b] += (x - t) + s
    stored[w, side, 0, g, b] = t


@jit(inline=True)
def remove_nb(stored, cnt_g, cnt, total, alive, w, side, g, b, amount):
    bucket_add_nb(stored, w, side, g, b, -amount)
    neumaier_add_nb(total, w, side, g, -amount)
    cnt_g[w, side, g, b] -= 1
    cnt[w, side, b] -= 1
    alive[w, side, g] -= 1
    # Exact zeros where nothing is left, so subtraction residue never looks like a cluster.
    if cnt_g[w, side, g, b] == 0:
        stored[w, side, 0, g, b] = 0.0
        stored[w, side, 1, g, b] = 0.0
    if alive[w, side, g] == 0:
        total[w, side, g, 0] = 0.0
        total[w, side, g, 1] = 0.0


@jit(inline=True)
def mix_row_nb(stored, w, side, lo_b, hi_b, scale, mixed):
    """``mixed[w, b]`` = USD in bucket b of book (w, side), clipped at 0, for b in [lo_b, hi_b].

    The same sum over decay groups as ``usd_at_nb`` (0.0, then g = 0, 1, ... in order, so
    bit-identical), with the group loop outside: the inner loop runs over contiguous
    buckets, which the compiler vectorises (``advance_nb`` runs without reference counts,
    so these views cost nothing).
    """
    # Slices from lo_b, indexed from 0: numba then knows the index is not negative and
    # drops its wraparound code, which kept these loops from being vectorised. The first
    # group's pass writes (0.0 + x can differ from x only in the sign of a zero) and the
    # last one clips (NaN and any zero become +0.0): the clipped values are the same.
    n = hi_b + 1 - lo_b
    row = mixed[w, lo_b:hi_b + 1]
    last = scale.shape[0] - 1
    for g in range(last + 1):
        s = scale[g]
        sums = stored[w, side, 0, g, lo_b:hi_b + 1]
        comp = stored[w, side, 1, g, lo_b:hi_b + 1]
        if g == 0:
            for i in range(n):
                row[i] = (sums[i] + comp[i]) * s
        elif g < last:
            for i in range(n):
                row[i] += (sums[i] + comp[i]) * s
        else:
            for i in range(n):
                m = row[i] + (sums[i] + comp[i]) * s
                row[i] = m if m > 0.0 else 0.0
    if last == 0:
        for i in range(n):
            m = row[i]
            row[i] = m if m > 0.0 else 0.0


@jit(inline=True)
def usd_at_nb(stored, w, side, b, scale):
    """USD in bucket b of book (w, side), clipped at 0 (one bucket of ``mix_row_nb``)."""
    if scale.shape[0] == 1:
        m = (stored[w, side, 0, 0, b] + stored[w, side, 1, 0, b]) * scale[0]
    else:
        m = 0.0
        for g in range(scale.shape[0]):
            m += (stored[w, side, 0, g, b] + stored[w, side, 1, g, b]) * scale[g]
    return m if m > 0.0 else 0.0


@jit(inline=True)
def scan_row_nb(rows, i, comps, j, use_comps, first, last, step, cluster_threshold):
    """Strongest value, and the nearest cluster and strongest bucket (nearest first).

    Reads a row of bucket values ``rows[i, b]`` (``+ comps[j, b]`` with ``use_comps``;
    negative rounding residue counts as 0) from ``first`` to ``last`` by ``step`` (away
    from the price). Two passes: the strongest value over the whole range, with four
    independent running maxima (the order does not matter for a maximum, and four
    chains keep the compare from waiting on the one before); then a walk from
    ``first`` that stops at the first bucket within TIE_RTOL of it. The nearest cluster
    is the first bucket reaching ``threshold·top`` on that walk.
    Returns (top, near_bucket, near_value, strong_bucket, strong_value).
    """
    lo_b = min(first, last)
    hi_b = max(first, last)
    t0 = 0.0
    t1 = 0.0
    t2 = 0.0
    t3 = 0.0
    b = lo_b
    while b + 3 <= hi_b:
        if use_comps:
            m0 = rows[i, b] + comps[j, b]
            m1 = rows[i, b + 1] + comps[j, b + 1]
            m2 = rows[i, b + 2] + comps[j, b + 2]
            m3 = rows[i, b + 3] + comps[j, b + 3]
        else:
            m0 = rows[i, b]
            m1 = rows[i, b + 1]
            m2 = rows[i, b + 2]
            m3 = rows[i, b + 3]
        t0 = m0 if m0 > t0 else t0
        t1 = m1 if m1 > t1 else t1
        t2 = m2 if m2 > t2 else t2
        t3 = m3 if m3 > t3 else t3
        b += 4
    while b <= hi_b:
        m0 = rows[i, b] + comps[j, b] if use_comps else rows[i, b]
        t0 = m0 if m0 > t0 else t0
        b += 1
    top = max(max(t0, t1), max(t2, t3))
    if top <= 0.0:
        return 0.0, -1, 0.0, -1, 0.0
    # The first bucket reaching a level X > 0 is the first whose value is >= X: the
    # same buckets a walk keeping running-maximum records finds.
    near_need = cluster_threshold * top * (1.0 - TIE_RTOL)
    strong_need = top * (1.0 - TIE_RTOL)
    near_b = -1
    near_m = 0.0
    b = first
    while True:
        m = rows[i, b] + comps[j, b] if use_comps else rows[i, b]
        if m > 0.0:
            if near_b < 0 and m >= near_need:
                near_b = b
                near_m = m
            if m >= strong_need:
                return top, near_b, near_m, b, m
        if b == last:
            break
        b += step
    return top, near_b, near_m, -1, 0.0  # unreachable: top is in the range


@jit(inline=True)
def confluence_nb(stored, mixed, side, first, last, step, scale, inv_max, tie_pow):
    """Bucket in [first .. last] (walked by ``step``) with the highest product over windows
    of USD × ``inv_max[w]``, nearest first within ``tie_pow``. Returns (product, bucket|−1).

    Each factor is <= 1, so a bucket whose first factor cannot beat the best product is
    skipped without reading the other windows. That first read is the hot one: with one
    decay group it reads the stored units directly and folds the common scale into
    ``inv_max[0]``; with several it reads ``mixed[w]``, the windows' USD rows that
    ``mix_row_nb`` wrote for the features over a range that holds [first .. last].
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
            prod = (stored[0, side, 0, 0, b] + stored[0, side, 1, 0, b]) * k0
        else:
            prod = mixed[0, b] * inv_max[0]
        if prod > need:
            for w in range(1, n_win):
                prod *= (usd_at_nb(stored, w, side, b, scale) if one_group else mixed[w, b]) * inv_max[w]
            if prod > need:
                best = prod
                need = best * tie_pow
                best_b = b
        if b == last:
            break
        b += step
    return best, best_b
