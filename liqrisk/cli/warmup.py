"""``liqrisk warmup``: compile every kernel into the cache now, so no later process waits for it.

Run it once where liqrisk is installed, e.g. as a step of a Docker image build
(``RUN liqrisk warmup``, with ``LIQRISK_CACHE_DIR`` set to a folder the bot's user can
read). Later processes load the compiled kernels in about half a second instead of
compiling them. It prints the cache folder and the time each part took.
"""

from __future__ import annotations

import argparse
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--all", action="store_true",
                        help="also the heatmap's and the market simulator's kernels (liqrisk heatmap, simulate, "
                             "demo); by default only what compute_features and LiveFeatures run")


def _live_path() -> None:
    """A full run then two one-candle steps of ``LiveFeatures`` on a small synthetic market."""
    from liqrisk.core.live import LiveFeatures
    from liqrisk.core.synthetic import random_market

    m = random_market(80, seed=0)
    live = LiveFeatures(pair="BTC/USDT:USDT", timeframe="5m", config={"windows": ["1h", "2h"]})
    for end in (78, 79, 80):
        last = m["ohlcv"]["date"].iloc[end - 1]
        live.update(m["ohlcv"].iloc[:end], **{k: m[k][m[k]["date"] <= last]
                                             for k in ("open_interest", "funding_rate", "mark")})


def _heatmap() -> None:
    from liqrisk.core.grids import liquidation_heatmap
    from liqrisk.core.synthetic import random_market

    m = random_market(80, seed=0)
    liquidation_heatmap(m["ohlcv"], open_interest=m["open_interest"], funding_rate=m["funding_rate"],
                        mark=m["mark"], config={"windows": ["1h"]}, price_bins=20, pair="BTC/USDT:USDT")


def _simulator() -> None:
    import numpy as np

    from liqrisk.tools.sim.pair_market import PairMarket

    with np.errstate(over="ignore"):  # xoshiro256** relies on uint64 wrap-around
        PairMarket("BTC/USDT:USDT", 1, 1_735_714_800_000, cohorts_per_minute=30.0).advance(30)


def _cache_counts() -> tuple[int, int]:
    """(signatures loaded from the cache, signatures compiled) over every kernel so far."""
    import sys

    hits = misses = 0
    for module in list(sys.modules.values()):
        if not (getattr(module, "__name__", "") or "").startswith("liqrisk."):
            continue
        for obj in list(vars(module).values()):
            stats = getattr(obj, "stats", None)
            if getattr(obj, "py_func", None) is not None and getattr(obj, "__module__", None) == module.__name__ \
                    and stats is not None:
                hits += sum(stats.cache_hits.values())
                misses += sum(stats.cache_misses.values())
    return hits, misses


def start(args: argparse.Namespace) -> int:
    from liqrisk.core import _numba

    if not _numba.ENABLED:
        print("liqrisk warmup: kernels run as plain Python here (numba missing or "
              f"{_numba.DISABLE_ENV} set): nothing to compile.")
        return 0
    from liqrisk.core.engine import warm_up

    folder = _numba.cache_dir()
    print(f"kernel cache: {folder if folder else 'none (no writable folder: set ' + _numba.CACHE_ENV + ')'}")
    parts = [("compute_features (one chunk and parallel chunks)", warm_up), ("LiveFeatures steps", _live_path)]
    if args.all:
        parts += [("liquidation_heatmap", _heatmap), ("market simulator", _simulator)]
    total = time.perf_counter()
    for name, run in parts:
        t = time.perf_counter()
        run()
        print(f"  {name:<50} {time.perf_counter() - t:6.1f} s")
    hits, misses = _cache_counts()
    print(f"done in {time.perf_counter() - total:.1f} s: {misses} kernel signatures compiled, {hits} loaded "
          "from the cache")
    return 0
