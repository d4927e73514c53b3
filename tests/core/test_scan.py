"""``kernels_book.scan_row_nb`` (a maximum pass, then an early-exit walk) against the
walk it replaced: one pass that keeps running-maximum records (hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from liqrisk.core.kernels import TIE_RTOL
from liqrisk.core.kernels_book import scan_row_nb


def records_scan(values, first, last, step, threshold):
    """The nearest bucket >= threshold·top and the nearest within TIE_RTOL of top, read
    from the running-maximum records of one walk from ``first`` (plain Python)."""
    top, recs = 0.0, []
    for b in range(first, last + step, step):
        if values[b] > top:
            top = values[b]
            recs.append((b, values[b]))
    if top <= 0.0:
        return 0.0, -1, 0.0, -1, 0.0
    near = next(((b, m) for b, m in recs if m >= threshold * top * (1.0 - TIE_RTOL)), (-1, 0.0))
    strong = next((b, m) for b, m in recs if m >= top * (1.0 - TIE_RTOL))
    return top, near[0], near[1], strong[0], strong[1]


# Few distinct magnitudes, so ties and near-ties (within, at and just outside TIE_RTOL of
# the top 5.0, and at 0.5 of it) are common.
value = st.sampled_from([0.0, -1e-12, 1.0, 2.0, 2.0 * (1 - 0.5e-9), 2.0 * (1 - 2e-9), 5.0, 5.0 * (1.0 - TIE_RTOL),
                         5.0 * (1 - 2e-9), 2.5 * (1.0 - TIE_RTOL), float("nan")])


@settings(max_examples=500)  # cheap; the default 40 rarely puts a lone maximum in each of the four lanes
@given(values=st.lists(value, min_size=1, max_size=40), comps=st.booleans(), data=st.data(),
       threshold=st.sampled_from([0.0, 0.1, 0.5, 1.0]))
def test_scan_equals_records_walk(values, comps, data, threshold):
    n = len(values)
    first = data.draw(st.integers(0, n - 1))
    last = data.draw(st.integers(0, n - 1))
    step = 1 if last >= first else -1
    row = np.array([values], dtype=np.float64)
    # With compensations, the value is row + comp: split each value in two parts.
    comp = np.where(np.isfinite(row), row * 0.25, 0.0) if comps else np.zeros_like(row)
    base = row - comp
    got = scan_row_nb(base, 0, comp, 0, comps, first, last, step, threshold)
    want = records_scan((base + comp)[0] if comps else row[0], first, last, step, threshold)
    assert tuple(got) == want


def test_lone_maximum_found_in_every_lane_and_the_tail():
    for n in range(1, 11):
        for p in range(n):
            row = np.full((1, n), 1.0)
            row[0, p] = 3.0
            for first, last, step in ((0, n - 1, 1), (n - 1, 0, -1)):
                top, _, _, strong, m = scan_row_nb(row, 0, row, 0, False, first, last, step, 0.5)
                assert (top, strong, m) == (3.0, p, 3.0)
