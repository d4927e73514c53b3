"""The fast engine: runs the numba kernels on prepared ``ModelInputs``."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from liqrisk.core import kernels
from liqrisk.core.kernels import Events
from liqrisk.core.kernels_engine import EngineInputs, RawResult, advance_nb, new_scratch, new_state
from liqrisk.core.model import ModelInputs


def _chunks(n: int, expiry: np.ndarray, n_chunks: int) -> list[tuple[int, int, int, np.ndarray]]:
    """Split [0, n) into (begin, report_from, end, first_seed) chunks for parallel runs.

    A chunk reports candles [report_from, end). Window w takes in seeds from
    ``first_seed[w]`` on (global index): the first seed that leaves w at ``report_from``
    or later. Older seeds left before, so w's state (and its expiry flow at
    ``report_from``) equals the full run's. The chunk starts simulating at ``begin``, the
    earliest of these (the longest window's).

    Every chunk but the first also pays its warm-up, so the later chunks report fewer
    candles: all chunks then take about as long.
    """
    leave = np.maximum.accumulate(expiry, axis=1)  # expiry index per window, made monotone

    def first_seeds(a: int) -> np.ndarray:
        return np.minimum([int(np.searchsorted(row, a, side="left")) for row in leave], a).astype(np.int64)

    even = np.linspace(0, n, n_chunks + 1).astype(np.int64)
    warm = [WARM_UP_COST * float(np.mean(a - first_seeds(int(a)))) for a in even[1:-1]]
    length = (n + sum(warm)) / n_chunks - np.array([0.0, *warm])
    bounds = np.r_[0, np.cumsum(np.maximum(length, 1.0))].round().astype(np.int64)
    bounds = np.minimum(bounds, n)
    bounds[-1] = n
    out = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if b <= a:
            continue
        first = first_seeds(int(a))
        out.append((int(first.min()), int(a), int(b), first))
    return out


#: A warm-up candle (seeding and expiry only) against a reported one, per window: the
#: state machine without its features takes 0.43x the time (28,000 5m candles, 3 windows).
WARM_UP_COST = 0.45
#: Fewest candles per chunk: below this a thread costs more than it saves.
MIN_CHUNK = 1000


def _n_chunks(n: int, longest: int, chunks: int | None) -> int:
    if chunks is not None:
        return max(1, int(chunks))
    # A chunk's warm-up (each window's span of seeding and expiry, no features) costs
    # less than half as many reported candles: two chunks pay off from about one longest
    # window on (5,000 5m candles with a 1w window: run_fast 17.9 -> 12.8 ms).
    return max(1, min(os.cpu_count() or 1, n // max(longest, MIN_CHUNK)))


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
        begin, report, end, first_seed = chunk
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
        run_chunk(chunk_inputs, inputs.n_buckets, report - begin, chunk_result, first_seed - begin)

    _map(run, _chunks(n, expiry, n_chunks) if n else [(0, 0, 0, np.zeros(n_win, np.int64))],
         1 if serial else n_chunks)
    return res


def run_chunk(inputs: EngineInputs, n_buckets: int, report_from: int, result: RawResult,
              first_seed: np.ndarray) -> None:
    """Run the state machine (``kernels_engine.advance_nb``) over all candles of ``inputs``.

    Writes candles [report_from, n) into the caller's ``result`` (``RawResult``: ``out``
    NaN-filled, ``conf`` NaN, ``ledger`` zeros, ``seeded`` zeros). Candles before
    ``report_from`` are warm-up: they only move the state (scratch outputs), and window
    w takes in seeds from ``first_seed[w]`` (local index) on.

    Chunks: the arrays may be a slice of candles starting at global index
    ``inputs.offset`` (the outputs then are views of the full result over the same
    slice). Chunks write disjoint candles, so they can run in parallel on one result.

    Plain Python around the kernels: a jitted driver re-optimised ``advance_nb``'s whole
    machine code once more inside its own (LLVM links callees into the caller), 5 s of a
    cold start, and the driver's work is four calls.
    """
    n = inputs.level_bucket.shape[0]
    n_win = inputs.expiry.shape[0]
    n_groups = inputs.post.shape[0]
    events = kernels.consumption_events_nb(inputs.level_bucket, inputs.cross, inputs.offset, 0, n, 0)
    state = new_state(n_win, n_groups, n_buckets, n, first_seed)
    scratch = new_scratch(n_win, n_groups, n_buckets)
    if report_from > 0:
        warm_up = RawResult(
            np.full((n_win, 2, kernels.N_SLOTS, report_from), np.nan), np.full((2, 2, report_from), np.nan),
            np.zeros((n_win, 3, report_from)), np.zeros(report_from),
        )
        advance_nb(state, inputs, 0, report_from, events, warm_up, scratch, False)
    advance_nb(state, inputs, report_from, n, Events(events.starts[report_from:], events.seed, events.level), result,
               scratch, True)


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
        # Windows of 12 and 24 candles, so the second chunk starts after candle 0: its
        # inputs are views and it has a warm-up, as in any real run split in two.
        inputs, _, _ = prepare(m["ohlcv"], open_interest=m["open_interest"], funding_rate=m["funding_rate"],
                               mark=m["mark"], pair="BTC/USDT:USDT", config={"windows": ["1h", "2h"]})
    # Serially, in the calling thread (the same specialisations are compiled): a bot runs this
    # in a daemon thread, and concurrent.futures joins a pool's workers at exit, so a kernel
    # compiling in one would hold up the exit of a bot stopped during warm-up (issue #15).
    for chunks in (1, 2):
        run_fast(inputs, chunks=chunks, serial=True)
