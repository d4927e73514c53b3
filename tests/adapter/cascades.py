"""How many stop-outs of a backtest happened inside a true liquidation cascade.

Ground truth is the simulator's ``liquidations.parquet`` (every forced liquidation: date
ms, pair, side, usd). A candle is a *cascade* for one side when the true liquidations of
that side in the candle exceed the ``pct`` percentile of all candles of that pair and side
(zeros included). A stop-out is a trade closed by ``stop_loss`` / ``trailing_stop_loss``;
in freqtrade's backtest results its ``close_date`` is the open time of the candle whose
wick hit the stop. A long's stop is in a cascade when *long* liquidations cascade in that
candle (shorts mirrored).

By hand, after ``freqtrade backtesting ... --export trades``::

    .venv/bin/python -m tests.adapter.cascades user_data/backtest_results <datadir>/binance/liqrisk_truth
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

STOP_EXITS = ("stop_loss", "trailing_stop_loss")


def cascade_thresholds(liq: pd.DataFrame, timeframe_ms: int, start_ms: int, end_ms: int, pct: float) -> dict:
    """{(pair, side): USD threshold} over all candles in [start, end)."""
    n = int((end_ms - start_ms) // timeframe_ms)
    out = {}
    for (pair, side), g in liq.groupby(["pair", "side"], observed=True):
        per = np.zeros(n)
        idx = ((g["date"].to_numpy(np.int64) - start_ms) // timeframe_ms).astype(np.int64)
        ok = (idx >= 0) & (idx < n)
        np.add.at(per, idx[ok], g["usd"].to_numpy(np.float64)[ok])
        out[(str(pair), str(side))] = float(np.percentile(per, pct))
    return out


def stop_outs_in_cascades(trades: pd.DataFrame, truth_dir: Path, *, timeframe_ms: int = 300_000,
                          pct: float = 99.0) -> dict:
    """Counts for one strategy's trades (freqtrade's backtest trade frame)."""
    liq = pd.read_parquet(Path(truth_dir) / "liquidations.parquet", columns=["date", "pair", "side", "usd"])
    start = int(pd.Timestamp(trades["open_date"].min()).floor("1D").value // 10**6)
    end = int(pd.Timestamp(trades["close_date"].max()).ceil("1D").value // 10**6) + timeframe_ms
    thr = cascade_thresholds(liq, timeframe_ms, start, end, pct)
    liq = liq[(liq["date"] >= start) & (liq["date"] < end)]
    liq = liq.assign(candle=(liq["date"] // timeframe_ms) * timeframe_ms)
    per = liq.groupby(["pair", "side", "candle"], observed=True)["usd"].sum()
    stops = trades[trades["exit_reason"].isin(STOP_EXITS)]
    inside = 0
    for row in stops.itertuples():
        side = "short" if row.is_short else "long"
        candle = int(pd.Timestamp(row.close_date).value // 10**6)
        usd = float(per.get((row.pair, side, candle), 0.0))
        if usd > thr.get((row.pair, side), np.inf):
            inside += 1
    return {"trades": len(trades), "stop_outs": len(stops), "stop_outs_in_cascade": inside,
            "cascade_percentile": pct}


def main(results: str, truth_dir: str, pct: float = 99.0) -> None:
    from freqtrade.data.btanalysis import get_latest_backtest_filename, load_backtest_data

    path = Path(results)
    if path.is_dir():
        path = path / get_latest_backtest_filename(path)
    from freqtrade.data.btanalysis import load_backtest_stats

    stats = load_backtest_stats(path)
    for name in stats["strategy"]:
        trades = load_backtest_data(path, name)
        print(name, stop_outs_in_cascades(trades, Path(truth_dir), pct=pct))


if __name__ == "__main__":
    main(*sys.argv[1:3], *(float(x) for x in sys.argv[3:4]))
