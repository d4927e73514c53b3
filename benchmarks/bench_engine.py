"""Engine benchmark: prints medians and ratios measured in the same run.

Targets (issue #16, with margin for a 1.5x slower machine), 2 cores, one process:
- full run: a year of 5m candles (105,120) with OI, windows 12h/1d/1w, 5 tiers × 2
  sides: <= 0.35 s median; the engine's own memory over the loaded runtime (input
  frames excluded) <= 170 MB; the runtime's footprint is reported, not targeted;
- versus the reference engine on the same 10,000 candles: >= 100x faster;
- live step: one candle appended to a 3,000-candle history, as freqtrade hands the
  strategy its rolling dataframe on every new candle: <= 3 ms (``LiveFeatures``,
  which steps only new candles; the full recompute is printed for comparison).

Usage: ``.venv/bin/python benchmarks/bench_engine.py [--repeat 7]``. The full run is
measured in a fresh child process so that its peak RSS is its own (it includes
Python, numpy, pandas and numba themselves).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

N_YEAR = 105_120


def _market(n: int):
    from liqrisk.core.synthetic import random_market

    return random_market(n, seed=7)


def _timed(func, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        func()
        out.append(time.perf_counter() - t)
    return out


def child_full(repeat: int) -> None:
    """Runs in a fresh process: year-long run, then reports times and peak RSS."""
    import logging

    logging.disable(logging.WARNING)
    from liqrisk import compute_features

    def peak_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    small = _market(3000)
    compute_features(small["ohlcv"], open_interest=small["open_interest"], funding_rate=small["funding_rate"],
                     mark=small["mark"], pair="BTC/USDT:USDT")  # numba: load the compiled cache / compile
    del small
    runtime_mb = peak_mb()  # Python, numpy, pandas, numba and the loaded kernels
    m = _market(N_YEAR)
    inputs_mb = peak_mb()
    kw = {"open_interest": m["open_interest"], "funding_rate": m["funding_rate"], "mark": m["mark"]}
    times = _timed(lambda: compute_features(m["ohlcv"], **kw, pair="BTC/USDT:USDT"), repeat)
    print(json.dumps({"times": times, "peak_rss_mb": peak_mb(), "runtime_mb": runtime_mb, "inputs_mb": inputs_mb}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--child", choices=["full"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "full":
        child_full(args.repeat)
        return 0

    import logging

    logging.disable(logging.WARNING)
    from liqrisk import compute_features
    from liqrisk.core.features import compute_features_reference

    load_before = os.getloadavg()
    proc = subprocess.run([sys.executable, __file__, "--child", "full", "--repeat", str(args.repeat)],
                          capture_output=True, text=True, check=True)
    full = json.loads(proc.stdout.strip().splitlines()[-1])
    full_median = statistics.median(full["times"])

    m = _market(10_000)
    kw = {"open_interest": m["open_interest"], "funding_rate": m["funding_rate"], "mark": m["mark"]}
    compute_features(m["ohlcv"], **kw, pair="BTC/USDT:USDT")
    fast = _timed(lambda: compute_features(m["ohlcv"], **kw, pair="BTC/USDT:USDT"), args.repeat)
    ref = _timed(lambda: compute_features_reference(m["ohlcv"], **kw, pair="BTC/USDT:USDT"), 1)
    ratio = ref[0] / statistics.median(fast)

    from liqrisk.core.live import LiveFeatures

    n_steps = 20 * args.repeat
    live = _market(3_000 + n_steps)

    def upto(end: int) -> dict:
        last = live["ohlcv"]["date"].iloc[end - 1]
        return {k: live[k][live[k]["date"] <= last] for k in ("open_interest", "funding_rate", "mark")}

    frames = [(live["ohlcv"].iloc[i:3000 + i], upto(3000 + i)) for i in range(n_steps + 1)]
    stepper = LiveFeatures(pair="BTC/USDT:USDT", timeframe="5m")
    stepper.update(frames[0][0], **frames[0][1])
    step = []
    for frame, aux in frames[1:]:
        t = time.perf_counter()
        stepper.update(frame, **aux)
        step.append(time.perf_counter() - t)
    recompute = _timed(lambda: compute_features(frames[-1][0], **frames[-1][1], pair="BTC/USDT:USDT"), args.repeat)

    engine_mb = full["peak_rss_mb"] - full["inputs_mb"]
    load_after = os.getloadavg()
    rows = [
        ("load average (1 / 5 min), start and end", f"{load_before[0]:.2f} / {load_before[1]:.2f}, "
         f"{load_after[0]:.2f} / {load_after[1]:.2f}", "(2 cores: above ~1 the runs share them)", None),
        ("full run, 105,120 x 5m, 3 windows", f"{full_median:.3f} s median", "<= 0.35 s", full_median <= 0.35),
        ("  runs (s)", " ".join(f"{t:.3f}" for t in full["times"]), "", None),
        ("peak RSS of that process", f"{full['peak_rss_mb']:.0f} MB", "", None),
        ("  before any data (runtime + kernels)", f"{full['runtime_mb']:.0f} MB", "", None),
        ("  + the year's input frames", f"{full['inputs_mb'] - full['runtime_mb']:.0f} MB", "", None),
        ("  + the engine and its output", f"{engine_mb:.0f} MB", "<= 170 MB", engine_mb <= 170),
        ("fast, 10,000 candles", f"{statistics.median(fast) * 1e3:.1f} ms median", "", None),
        ("reference, same 10,000 candles", f"{ref[0]:.2f} s", "", None),
        ("speed-up over reference", f"{ratio:.0f}x", ">= 100x", ratio >= 100),
        ("live step, 3,000 candles + 1 (LiveFeatures)", f"{statistics.median(step) * 1e3:.2f} ms median", "<= 3 ms",
         statistics.median(step) <= 0.003),
        ("  full recompute of those 3,000 candles", f"{statistics.median(recompute) * 1e3:.1f} ms median", "", None),
        ("  full runs the stepper fell back to", f"{stepper.full_runs - 1} of {n_steps} steps", "", None),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, target, ok in rows:
        mark = "" if ok is None else ("  ok" if ok else "  MISSED")
        print(f"{name:<{width}}  {value:<22} {target}{mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
