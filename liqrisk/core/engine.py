"""The fast engine: runs the numba kernels on prepared ``ModelInputs``."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from liqrisk.core import kernels
from liqrisk.core.kernels_engine import EngineInputs, RawResult, run_chunk
from liqrisk.core.model import ModelInputs


def _chunks(n: int, spans: np.ndarray, n_chunks: int) -> list[tuple[int, int, int]]:
    """Split [0, n) into (begin, report_from, end) chunks for parallel runs.

    A chunk reports candles [report_from, end) and starts simulating at ``begin``, the
    first seed that leaves its longest window at ``report_from`` or later: older seeds
    left before, so the state (and the expiry flow at ``report_from``) equals the full run's.
    """
    bounds = np.linspace(0, n, n_chunks + 1).astype(np.int64)
    horizon = np.maximum.accumulate(spans)  # expiry index of the longest window
    out = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        begin = int(np.searchsorted(horizon, a, side="left"))
        out.append((min(begin, int(a)), int(a), int(b)))
    return out


def _n_chunks(n: int, longest: int, chunks: int | None) -> int:
    if chunks is not None:
        return max(1, int(chunks))
    # Each chunk repeats one longest window of warm-up: with n >= 4 windows, 2 chunks of
    # n/2 + 1 window each still finish in <= 3/4 of the time (a 90-day 5m backtest with a
    # 1w window: n = 12 windows, 1.7x faster).
    return max(1, min(os.cpu_count() or 1, n // (4 * max(longest, 1))))


def _map(func, items, workers):
    if workers == 1 or len(items) == 1:
        return [func(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:  # kernels release the GIL
        return list(pool.map(func, items))


def crossings(inputs: ModelInputs, horizon: np.ndarray, *, chunks: int | None = None,
              serial: bool = False) -> np.ndarray:
    """int32 [n, L]: first candle crossing each level before ``horizon[s]`` (else n)."""
    n = inputs.n
    span = int(np.max(horizon - np.arange(n) - 1)) if n else 0
    n_log = max(1, span.bit_length())
    workers = _n_chunks(n, span, chunks)
    mins, maxs = _map(lambda args: kernels.sparse_table_nb(*args),
                      [(inputs.cons_low, n_log, False), (inputs.cons_high, n_log, True)],
                      1 if serial else min(workers, 2))
    bounds = np.linspace(0, n, workers + 1).astype(np.int64)
    parts = _map(
        lambda ab: kernels.first_crossing_nb(
            inputs.entry, inputs.factor, inputs.level_bucket, mins, maxs,
            horizon.astype(np.int64), n_log, int(ab[0]), int(ab[1]),
        ),
        list(zip(bounds[:-1], bounds[1:], strict=True)), 1 if serial else workers,
    )
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def run_fast(inputs: ModelInputs, *, chunks: int | None = None, serial: bool = False) -> RawResult:
    """Run the engine; ``chunks`` forces the number of parallel time chunks (tests);
    ``serial`` runs the chunks one after the other in this thread (same kernels, no pool)."""
    n = inputs.n
    expiry = inputs.expiry_index()
    horizon = expiry.max(axis=0) if n else np.zeros(0, np.int64)
    longest = int(np.max(horizon - np.arange(n))) if n else 0
    n_chunks = _n_chunks(n, longest, chunks)
    cross = crossings(inputs, horizon, chunks=n_chunks, serial=serial)
    post, pre = inputs.log_scales()
    n_win = expiry.shape[0]
    # One result that every chunk writes its own candles into: no per-chunk copies to join.
    res = RawResult(
        out=np.full((n_win, 2, kernels.N_SLOTS, n), np.nan), conf=np.full((2, 2, n), np.nan),
        ledger=np.zeros((n_win, 3, n)), seeded=np.zeros(n),
    )

    tables = kernels.level_tables_nb(inputs.tier_weight, inputs.entry_weight, inputs.tier_group)

    def run(chunk):
        begin, report, end = chunk
        rows = slice(begin, end)
        # One chunk passes contiguous arrays, like ``LiveFeatures``: one compiled
        # ``advance_nb`` for both. Several chunks pass views of [W|G, n] arrays, a second
        # one (copying them contiguous would cost 13 MB at peak for a year of 5m candles).
        chunk_inputs = EngineInputs(
            inputs.ref_bucket[rows], inputs.level_bucket[rows], inputs.seed_usd[rows], inputs.intra_usd[rows],
            *tables, cross[rows], expiry[:, rows], post[:, rows], pre[:, rows],
            cluster_threshold=inputs.cluster_threshold, offset=begin,
        )
        chunk_result = RawResult(res.out[..., rows], res.conf[..., rows], res.ledger[..., rows], res.seeded[rows])
        run_chunk(chunk_inputs, inputs.n_buckets, report - begin, chunk_result)

    _map(run, _chunks(n, horizon, n_chunks) if n else [(0, 0, 0)], 1 if serial else n_chunks)
    return res


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None (another C library, or no C library found)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None).malloc_trim
    except (OSError, AttributeError):
        return None


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the OS (glibc only; elsewhere nothing).

    A year of 5m candles frees about 50 MB of engine temporaries (crossing tables,
    events, log scales) right before the 50 MB feature matrix is written. glibc keeps
    freed blocks under its moving mmap threshold (up to 32 MB) in its per-thread heaps,
    and the matrix cannot reuse them, so the process's peak RSS counted both: the
    engine's increment measured 160-210 MB, 113-122 MB with this call (about 1 ms).
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def warm_up() -> None:
    """Load (or, in a fresh checkout, compile) the kernels ``compute_features`` runs,
    in their one-chunk and parallel variants, on a tiny synthetic market.

    The first call of a numba kernel in a process costs about 0.5 s even from the cache.
    A bot can pay it in a background thread while it loads its data. Its warnings are
    muted (in its own thread only): the synthetic ``BTC/USDT:USDT`` candles must not use
    up BTC's once-per-process warnings before the real data arrives.
    """
    from liqrisk._util import quiet_warnings
    from liqrisk.core.align import prepare
    from liqrisk.core.synthetic import random_market

    m = random_market(64, seed=0)
    with quiet_warnings():
        inputs, _, _ = prepare(m["ohlcv"], open_interest=m["open_interest"], funding_rate=m["funding_rate"],
                               mark=m["mark"], pair="BTC/USDT:USDT")
    # Serially, in the calling thread (the same specialisations are compiled): a bot runs this
    # in a daemon thread, and concurrent.futures joins a pool's workers at exit, so a kernel
    # compiling in one would hold up the exit of a bot stopped during warm-up (issue #15).
    for chunks in (1, 2):
        run_fast(inputs, chunks=chunks, serial=True)
