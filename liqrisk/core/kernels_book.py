"""The engine's bucket book: compensated sums per (window, side, decay group, bucket),
and the two scans that read clusters from it.

Conventions as in ``liqrisk.core.kernels``. Arrays, as ``kernels_engine.EngineState``
holds them: ``stored[W, 2, G, n_buckets, 2]`` and ``total[W, 2, G, 2]`` are (sum,
compensation) pairs in rescaled units; ``cnt_g``/``cnt``/``alive`` count live levels.
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
    """``stored[w, side, g, b]`` is (sum, compensation), like ``total``."""
    s = stored[w, side, g, b, 0]
    t = s + x
    if abs(s) >= abs(x):
        stored[w, side, g, b, 1] += (s - t) + x
    else:
        stored[w, side, g, b, 1] += (x - t) + s
    stored[w, side, g, b, 0] = t


@jit(inline=True)
def remove_nb(stored, cnt_g, cnt, total, alive, w, side, g, b, amount):
    bucket_add_nb(stored, w, side, g, b, -amount)
    neumaier_add_nb(total, w, side, g, -amount)
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
def bucket_usd_nb(book, b, scale):
    """USD in bucket b of one (window, side) book [G, n_buckets, 2], clipped at 0."""
    if scale.shape[0] == 1:  # the default: one decay group, no inner loop
        m = (book[0, b, 0] + book[0, b, 1]) * scale[0]
    else:
        m = 0.0
        for g in range(scale.shape[0]):
            m += (book[g, b, 0] + book[g, b, 1]) * scale[g]
    return m if m > 0.0 else 0.0


@jit(inline=True)
def usd_at_nb(stored, w, side, b, scale):
    """``bucket_usd_nb`` on the full [W, 2, G, n_buckets] array, without making a view."""
    if scale.shape[0] == 1:
        m = (stored[w, side, 0, b, 0] + stored[w, side, 0, b, 1]) * scale[0]
    else:
        m = 0.0
        for g in range(scale.shape[0]):
            m += (stored[w, side, g, b, 0] + stored[w, side, g, b, 1]) * scale[g]
    return m if m > 0.0 else 0.0


@jit
def scan_row_nb(row, first, last, step, cluster_threshold, rec_b, rec_m):
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
def confluence_nb(stored, side, first, last, step, scale, inv_max, tie_pow):
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
            prod = usd_at_nb(stored, 0, side, b, scale) * inv_max[0]
        if prod > need:
            for w in range(1, n_win):
                prod *= usd_at_nb(stored, w, side, b, scale) * inv_max[w]
            if prod > need:
                best = prod
                need = best * tie_pow
                best_b = b
        if b == last:
            break
        b += step
    return best, best_b
