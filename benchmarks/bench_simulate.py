"""Time ``liqrisk simulate`` for 90 days x 4 pairs: median of 3 runs after a warm-up.

    .venv/bin/python benchmarks/bench_simulate.py [--days 90] [--runs 3]

The warm-up run also compiles (or loads from numba's cache) the kernel; it is reported
separately. Files go to a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from liqrisk.tools.sim.pair_market import PairMarket
from liqrisk.tools.sim.writer import simulate_datadir

PAIRS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "XRP/USDT:USDT"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    t0 = time.perf_counter()
    simulate_datadir(tempfile.mkdtemp(prefix="liqrisk-bench-"), PAIRS[:1], days=1, seed=1)
    print(f"warm-up (kernel compile or cache load): {time.perf_counter() - t0:.2f} s")

    totals = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="liqrisk-bench-") as tmp:
            result = simulate_datadir(tmp, PAIRS, days=args.days, seed=42 + run)
        totals.append(result.seconds)
        print(f"run {run + 1}: {result.seconds:.2f} s  ({result.n_liquidations:,} liquidations)")
    print(f"simulate {args.days} days x {len(PAIRS)} pairs, files + truth: median {statistics.median(totals):.2f} s")

    kernel = []
    for _ in range(args.runs):
        t = time.perf_counter()
        market = PairMarket("BTC/USDT:USDT", 42, 1_735_603_200_000)
        market.advance(args.days * 1440)
        kernel.append(time.perf_counter() - t)
    print(f"kernel only, 1 pair x {args.days} days: median {statistics.median(kernel):.2f} s")


if __name__ == "__main__":
    main()
