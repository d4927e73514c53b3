"""A year of real-format open interest through ``liqrisk download-oi`` into a freqtrade backtest (#17).

The pipeline of ``tests/e2e/test_oi_history_backtest.py`` at full size, on 127.0.0.1:

1. ``liqrisk simulate``: 365 days x 2 pairs (to 2025-03-31), 5m and 1h OI among the files;
2. the datadir copied without any open_interest file;
3. ``liqrisk exchange`` serves the simulator's OI as Binance's daily ``metrics`` archive
   (zips + ``.CHECKSUM``) and over Bybit's v5 API;
4. ``liqrisk download-oi --archive-url <local>`` restores the year (730 daily zips);
   with ``--bybit`` also ``--source bybit`` into ``<data>/bybit/futures``;
5. unmodified ``freqtrade backtesting`` of LiqRiskSample with the default windows
   (12h/1d/1w) over the year after its startup; with ``--bybit`` once more with
   ``"oi_sources": ["binance", "bybit"]``.

Prints each step's wall time, the OI rows restored, and per pair the backtest candles and
those on the volume proxy (the mixin report's ``oi_fallback``). Exits 1 if a day was not
restored, a file differs from the simulator's, or any backtest candle fell back.

    .venv/bin/python benchmarks/oi_history_year.py [--days 365] [--bybit] [--sim DIR]

Not in CI: the simulator peaks at about 2 GB for 2 pairs x 365 days.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.test_oi_history_backtest import (  # noqa: E402
    END,
    PAIRS,
    backtest,
    backtest_config,
    download_oi,
    oi_file,
    simulate,
    without_oi,
)
from tests.tools.exchange.conftest import ServerProcess  # noqa: E402


def timed(label: str, times: dict, fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    times[label] = time.perf_counter() - t0
    print(f"{label:44s} {times[label]:7.1f} s", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=365, help="days of simulated OI (default: %(default)s)")
    ap.add_argument("--bybit", action="store_true", help="also download Bybit's OI and backtest the sum")
    ap.add_argument("--sim", type=Path, help=f"a `liqrisk simulate --days N --end {END}` folder to reuse")
    args = ap.parse_args()
    end = pd.Timestamp(END, tz="UTC")
    start = end - pd.Timedelta(days=args.days)
    download_range = f"{start:%Y%m%d}-{end:%Y%m%d}"
    # LiqRiskSample's startup with the default windows is 2,162 5m candles (7.5 days).
    timerange = f"{start + pd.Timedelta(days=8):%Y%m%d}-{end:%Y%m%d}"
    times: dict[str, float] = {}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="liqrisk-oi-year-") as tmp:
        tmp = Path(tmp)
        sim = args.sim or timed(f"simulate {args.days} days x {len(PAIRS)} pairs", times, simulate,
                                tmp / "sim", PAIRS, args.days, END, timeout=1800)
        data = timed("copy without open_interest", times, without_oi, sim, tmp / "data")
        srv = ServerProcess(sim, log=tmp / "server.log")
        try:
            res = timed(f"download-oi binance-archive {download_range}", times, download_oi, data, srv.url, PAIRS,
                        download_range, timeout=1800)
            print(*(line for line in res.stdout.splitlines() if ": " in line and "days" in line), sep="\n")
            if res.returncode != 0 or re.search(r"\b[1-9]\d* gaps?\b", res.stdout):
                problems.append(f"download-oi exit {res.returncode}: {res.stderr[-1500:]}")
            for pair in PAIRS:
                for tf in ("5m", "1h"):
                    if not oi_file(data, pair, tf).equals(oi_file(sim / "binance", pair, tf)):
                        problems.append(f"{pair} {tf}: the restored file differs from the simulator's")
            runs = [("backtest LiqRiskSample, binance OI", None)]
            if args.bybit:
                res = timed("download-oi --source bybit", times, download_oi, tmp / "data", srv.url, PAIRS,
                            download_range, "--source", "bybit", timeout=3600)
                if res.returncode != 0:
                    problems.append(f"download-oi --source bybit exit {res.returncode}: {res.stderr[-1500:]}")
                runs.append(("backtest LiqRiskSample, binance + bybit OI", {"oi_sources": ["binance", "bybit"]}))
            for label, section in runs:
                run_dir = tmp / f"run{len(times)}"
                run_dir.mkdir()
                cfg = backtest_config(run_dir, srv.url, PAIRS, section)
                out, report = timed(f"{label} {timerange}", times, backtest, cfg, data, timerange, timeout=3600)
                trades = re.search(r"│\s*LiqRiskSample\s*│\s*(\d+)\s*│", out)
                print(f"  trades {trades.group(1) if trades else '?'}")
                for pair, cov in report.items():
                    print(f"  {pair}: {cov['candles']:,} backtest candles, {cov['fallback']:,} on the volume proxy"
                          + (f", first spans {cov['spans'][:3]}" if cov["spans"] else ""))
                    if cov["fallback"]:
                        problems.append(f"{label}: {pair} has {cov['fallback']} OI-fallback candles")
                if set(report) != set(PAIRS):
                    problems.append(f"{label}: report covers {sorted(report)}")
        finally:
            srv.stop()
    rows = args.days * 288
    print(f"OI restored: {len(PAIRS)} pairs x {rows:,} 5m rows ({args.days} daily archive zips each); "
          f"total {sum(times.values()):.1f} s")
    for p in problems:
        print("PROBLEM:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
