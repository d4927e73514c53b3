"""``liqrisk calibrate --recorded DATADIR``: recorded pairs as extra real series, gaps skipped.

The store is written from the simulator's own liquidations (as a complete Bybit recording
would hold them), with a six-hour disconnection, so the series' actuals must equal the
truth on every covered candle and be unknown on the candles the gap touches.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest

from liqrisk.cli import calibrate
from liqrisk.tools.record.store import Liquidation, PairStore, event_key, store_root
from liqrisk.tools.sim.writer import simulate_datadir
from liqrisk.tools.validate.actuals import actuals_per_candle
from liqrisk.tools.validate.real_sets import recorded_series, run_series

PAIR = "BTC/USDT:USDT"
HOUR = 3_600_000


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    root = tmp_path_factory.mktemp("calib") / "data"
    simulate_datadir(root, [PAIR], days=9, seed=11)
    datadir = root / "binance"
    truth = pd.read_parquet(datadir / "liqrisk_truth" / "liquidations.parquet")
    store = PairStore(store_root(datadir), "bybit", PAIR, latency_ms=500)
    first, last = int(truth["date"].min()), int(truth["date"].max())
    store.connected(first - first % HOUR)
    for row in truth.itertuples(index=False):
        t, price, qty = int(row.date), float(row.price), float(row.qty)
        store.add(Liquidation(t, "bybit", PAIR, row.side, price, qty, price * qty, event_key(t, row.side, price, qty)))
    gap = (first + 8 * 24 * HOUR - 6 * HOUR + 1234, first + 8 * 24 * HOUR)
    store.add_gap(*gap, "disconnect")
    store.flush(now=last - last % HOUR + HOUR)
    return datadir, truth, gap


def test_recorded_series_equals_the_truth_on_covered_candles(recorded):
    datadir, truth, gap = recorded
    s = recorded_series(datadir, PAIR, "1h")
    assert s.set == "BTC 1h recorded" and s.timeframe == "1h" and s.open_interest is not None
    dates = pd.DatetimeIndex(pd.to_datetime(s.ohlcv["date"], utc=True))
    got = actuals_per_candle(s.actual, dates, "1h").to_numpy()
    truth = truth.assign(usd=truth["price"] * truth["qty"])
    want = actuals_per_candle(truth[["date", "side", "usd"]], dates, "1h").to_numpy()
    ms = dates.as_unit("ms").asi8
    touched = (ms < gap[1]) & (ms + HOUR > gap[0])
    assert touched.sum() == 7  # six hours and the one the gap's odd start touches
    assert np.isnan(got[touched]).all()
    known = np.isfinite(got).all(axis=1)
    assert known.sum() > 100
    np.testing.assert_allclose(got[known], want[known], rtol=1e-9)
    run = run_series(s)
    fit, test = run.mask("fit"), run.mask("test")
    assert fit.sum() > 0 and test.sum() > 0 and not (fit & test).any()
    assert not (fit | test)[touched].any()
    assert run.dates[test].min() >= s.split > run.dates[fit].max()


def test_calibrate_cli_scores_recorded_pairs(recorded, capsys):
    datadir, _, _ = recorded
    parser = argparse.ArgumentParser()
    calibrate.add_arguments(parser)
    args = parser.parse_args(["--data", "none", "--intraday", "none", "--recorded", str(datadir),
                              "--recorded-timeframe", "1h", "--no-fit"])
    assert calibrate.start(args) == 0
    out = capsys.readouterr().out
    assert "recorded: BTC/USDT:USDT at 1h" in out and "BTC 1h recorded" in out and "test" in out
    bad = parser.parse_args(["--data", "none", "--intraday", "none", "--recorded-pairs", PAIR])
    assert calibrate.start(bad) == 2
