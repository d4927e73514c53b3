"""Where LiqRiskSample's backtest overhead goes: one timed freqtrade process per strategy.

``bench_overhead.py`` gives the ratio; this says what makes it. It runs ``freqtrade
backtesting`` of LiqRiskSampleBaseline and LiqRiskSample on the same data as
``bench_overhead.py`` (4 pairs x 90 days of simulated 5m candles, through ``liqrisk
exchange`` on loopback), each inside a wrapper process that times, with wall clocks:

* the liqrisk pieces: reading OI/funding/mark through the DataProvider, alignment and
  model inputs (``prepare``), the engine (``run_fast``), the feature frame
  (``assemble_features``), the kernels' first load (``warm_up``, in its own thread), and
  the callbacks' rule code (``layers.stop`` / ``entry`` / ``leverage``);
* the freqtrade stages they sit in: ``advise_all_indicators`` and the backtest loop, with
  ``should_exit`` (which calls ``custom_stoploss``) inside it.

Wrapping adds a few microseconds per call, so the timed runs are slower than
``bench_overhead.py``'s; compare the two strategies' rows, not the absolute times.

    .venv/bin/python benchmarks/overhead_breakdown.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: Runs ``freqtrade`` with timers around the functions named below; prints ``T label<TAB>seconds calls``.
WRAPPER = r'''
import atexit, collections, functools, sys, time
T0 = time.perf_counter()
spent, calls = collections.defaultdict(float), collections.Counter()
def timed(owner, name, label):
    f = getattr(owner, name)
    @functools.wraps(f)
    def g(*a, **k):
        t = time.perf_counter()
        try:
            return f(*a, **k)
        finally:
            spent[label] += time.perf_counter() - t
            calls[label] += 1
    setattr(owner, name, g)
import freqtrade.optimize.backtesting as B, freqtrade.strategy.interface as I
import liqrisk.adapter.columns as C, liqrisk.adapter.layers as L, liqrisk.core.engine as E, liqrisk.core.features as F
for owner, name, label in [
    (C.PairColumns, "aux_candles", "liqrisk: OI/funding/mark via DataProvider"),
    (F, "prepare", "liqrisk: prepare (alignment, model inputs)"),
    (F, "run_fast", "liqrisk: engine (run_fast)"),
    (F, "assemble_features", "liqrisk: feature frame"),
    (C.PairColumns, "build", "liqrisk: all indicator columns"),
    (E, "warm_up", "liqrisk: kernel load (own thread)"),
    (L, "stop", "liqrisk: custom_stoploss rule"),
    (L, "entry", "liqrisk: confirm_trade_entry rule"),
    (L, "leverage", "liqrisk: leverage rule"),
    (I.IStrategy, "advise_all_indicators", "freqtrade: advise_all_indicators"),
    (I.IStrategy, "should_exit", "freqtrade: should_exit (calls custom_stoploss)"),
    (B.Backtesting, "backtest", "freqtrade: backtest loop"),
]:
    timed(owner, name, label)
@atexit.register
def report():
    print(f"T process\t{time.perf_counter() - T0:.4f} 1", file=sys.stderr)
    for label, s in spent.items():
        print(f"T {label}\t{s:.4f} {calls[label]}", file=sys.stderr)
from freqtrade.main import main
sys.argv = ["freqtrade", *sys.argv[1:]]
main()
'''


def run_timed(strategy: str, args: list[str], cwd: Path, env: dict) -> dict[str, tuple[float, int]]:
    res = subprocess.run([sys.executable, "-c", WRAPPER, "backtesting", "--strategy", strategy, *args], cwd=cwd,
                         env=env, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"{strategy} failed:\n{(res.stdout + res.stderr)[-3000:]}")
    out = {}
    for line in res.stderr.splitlines():
        if line.startswith("T "):
            label, _, rest = line[2:].rpartition("\t")
            seconds, n = rest.split()
            out[label] = (float(seconds), int(n))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per strategy (medians are printed)")
    ap.add_argument("--datadir", type=Path, help="a `liqrisk simulate --days 98` folder (default: simulate one)")
    args = ap.parse_args()

    from benchmarks.bench_overhead import backtest_setup
    from tests.tools.exchange.conftest import subprocess_env

    names = ["LiqRiskSampleBaseline", "LiqRiskSample"]
    runs: dict[str, list[dict]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory(prefix="liqrisk-breakdown-") as tmp, \
            backtest_setup(Path(tmp), args.datadir) as ft_args:
        for i in range(args.repeats):
            for name in names:
                runs[name].append(run_timed(name, ft_args, Path(tmp), subprocess_env()))
                print(f"repeat {i + 1}: {name} {runs[name][-1]['process'][0]:.2f} s", flush=True)

    labels = sorted({k for r in runs.values() for x in r for k in x}, key=lambda k: (k != "process", k))
    width = max(map(len, labels))
    print(f"\n{'median seconds (calls)':<{width}}  {'baseline':>16}  {'sample':>16}  {'difference':>10}")
    for label in labels:
        cells = []
        for name in names:
            got = [x[label] for x in runs[name] if label in x]
            cells.append((statistics.median(s for s, _ in got), got[0][1]) if got else None)
        text = [f"{c[0]:8.3f} ({c[1]:>6})" if c else f"{'-':>16}" for c in cells]
        diff = (cells[1][0] if cells[1] else 0.0) - (cells[0][0] if cells[0] else 0.0)
        print(f"{label:<{width}}  {text[0]:>16}  {text[1]:>16}  {diff:+10.3f}")


if __name__ == "__main__":
    main()
