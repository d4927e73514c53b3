"""Binary min-heaps over parallel arrays (``key`` float64, ``ids`` int64 cohort ids).

The simulator keeps one heap per trigger (long and short liquidation prices, stops,
close times). Deletion is lazy: a cohort that leaves by another route stays in the
other heaps until it reaches the top (it is then skipped) or ``heap_compact_nb`` drops
it. Each function takes the heap's size ``n`` and returns the new one.
"""

from __future__ import annotations

from liqrisk.core._numba import jit
from liqrisk.tools.sim.cohort_layout import STATUS_OPEN


@jit(inline=True)
def heap_push_nb(key, ids, n, k, i):
    pos = n
    while pos > 0:
        parent = (pos - 1) >> 1
        if key[parent] <= k:
            break
        key[pos] = key[parent]
        ids[pos] = ids[parent]
        pos = parent
    key[pos] = k
    ids[pos] = i
    return n + 1


@jit(inline=True)
def _sift_down_nb(key, ids, n, pos):
    k = key[pos]
    i = ids[pos]
    while True:
        c = 2 * pos + 1
        if c >= n:
            break
        if c + 1 < n and key[c + 1] < key[c]:
            c += 1
        if key[c] >= k:
            break
        key[pos] = key[c]
        ids[pos] = ids[c]
        pos = c
    key[pos] = k
    ids[pos] = i


@jit(inline=True)
def heap_pop_nb(key, ids, n):
    n -= 1
    if n > 0:
        key[0] = key[n]
        ids[0] = ids[n]
        _sift_down_nb(key, ids, n, 0)
    return n


@jit
def heap_compact_nb(key, ids, n, status):
    """Drop entries of cohorts that are no longer open, then re-heapify (O(n))."""
    w = 0
    for r in range(n):
        if status[ids[r]] == STATUS_OPEN:
            key[w] = key[r]
            ids[w] = ids[r]
            w += 1
    for pos in range(w // 2 - 1, -1, -1):
        _sift_down_nb(key, ids, w, pos)
    return w
