"""Overhead of LiqRiskMixin in a freqtrade backtest: LiqRiskSample vs LiqRiskSampleBaseline.

Both are the same trend-pullback strategy; LiqRiskSample adds the mixin (features from
candles + OI + funding + mark, entry veto, stop placement, leverage cap). Each repeat runs
``freqtrade backtesting`` of the baseline, then of the sample, in separate processes,
through ``liqrisk exchange`` on loopback, on 4 pairs x 90 days of simulated 5m candles
(seed 42; 98 days are simulated so that liqrisk's one-week startup lies before the
90 backtested days). Prints the median wall time of each and their ratio (target ≤ 1.25),
and the median and range of the per-repeat (paired) ratios.

    .venv/bin/python benchmarks/bench_overhead.py [--repeats 3] [--datadir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.tools.exchange.conftest import FREQTRADE, ServerProcess, subprocess_env  # noqa: E402

PAIRS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "XRP/USDT:USDT"]
TIMERANGE = "20241231-20250331"  # 90 days of 5m candles


@contextlib.contextmanager
def backtest_setup(tmp: Path, datadir: Path | None):
    """Simulated data (unless ``datadir``), the kernels compiled, ``liqrisk exchange`` on
    loopback and a freqtrade config for it; yields ``freqtrade backtesting``'s arguments
    (all but ``--strategy``)."""
    if datadir is None:
        datadir = tmp / "data"
        subprocess.run([sys.executable, "-m", "liqrisk.cli", "simulate", "--datadir", str(datadir), "--days", "98",
                        "--pairs", *PAIRS, "--seed", "42", "--no-progress"], check=True, cwd=REPO,
                       env=subprocess_env(), capture_output=True)
    # Compile (or load) the numba kernels once, so no timed run pays a fresh compile.
    subprocess.run([sys.executable, "-c", "from liqrisk.core.synthetic import random_market; import liqrisk; "
                    "m = random_market(500, seed=1); liqrisk.compute_features(m['ohlcv'], pair='BTC/USDT:USDT')"],
                   check=True, cwd=REPO, env=subprocess_env(), capture_output=True)
    srv = ServerProcess(datadir, log=tmp / "server.log")
    try:
        cfg = json.loads((REPO / "user_data" / "config.offline.json").read_text()
                         .replace("http://127.0.0.1:8765", srv.url))
        cfg["exchange"]["pair_whitelist"] = PAIRS
        cfg["user_data_dir"] = str(tmp / "user_data")
        (tmp / "user_data").mkdir()
        (tmp / "config.json").write_text(json.dumps(cfg))
        yield ["-c", str(tmp / "config.json"), "--datadir", str(datadir / "binance"), "--strategy-path",
               str(REPO / "strategies"), "--timerange", TIMERANGE, "--export", "none", "--cache", "none"]
    finally:
        srv.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--datadir", type=Path, help="a `liqrisk simulate --days 98` folder (default: simulate one)")
    args = ap.parse_args()
    times: dict[str, list[float]] = {"LiqRiskSampleBaseline": [], "LiqRiskSample": []}
    with tempfile.TemporaryDirectory(prefix="liqrisk-bench-") as tmp, backtest_setup(Path(tmp), args.datadir) as ft_args:
        for i in range(args.repeats):
            for name in times:  # same order every repeat: baseline, then sample
                t0 = time.perf_counter()
                res = subprocess.run([FREQTRADE, "backtesting", *ft_args, "--strategy", name], cwd=tmp,
                                     env=subprocess_env(), capture_output=True, text=True)
                dt = time.perf_counter() - t0
                if res.returncode != 0:
                    sys.exit(f"{name} failed:\n{(res.stdout + res.stderr)[-3000:]}")
                times[name].append(dt)
                print(f"repeat {i + 1}: {name:22s} {dt:6.1f} s", flush=True)
    base = statistics.median(times["LiqRiskSampleBaseline"])
    mixin = statistics.median(times["LiqRiskSample"])
    print(f"median LiqRiskSampleBaseline: {base:.1f} s")
    print(f"median LiqRiskSample:         {mixin:.1f} s")
    print(f"ratio: {mixin / base:.2f}x (target <= 1.25x)")
    # Each repeat runs the two back to back, so their ratio shares the machine's state;
    # its median is less sensitive to a slow stretch that hits one strategy's runs.
    paired = sorted(m / b for b, m in zip(times["LiqRiskSampleBaseline"], times["LiqRiskSample"], strict=True))
    print(f"paired ratios: median {statistics.median(paired):.2f}x, range {paired[0]:.2f}-{paired[-1]:.2f}x")


if __name__ == "__main__":
    main()
