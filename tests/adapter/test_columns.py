"""The adapter's column building: config merge, OI timeframe, and ``liq_funding_rate``
(the core's funding alignment, the same rule the engine applies)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

import liqrisk
from liqrisk.adapter import columns
from liqrisk.core.align import align, candle_arrays, funding_at_close
from tests.adapter.test_mixin import CONFIG, PAIR, WithMixin

H = 3600 * 10**9


def candles(n=300, start="2025-01-01") -> pd.DataFrame:
    close = 100 * np.exp(np.cumsum(np.random.default_rng(4).normal(0, 0.002, n)))
    return pd.DataFrame({"date": pd.date_range(start, periods=n, freq="5min", tz="UTC"), "open": close,
                         "high": close * 1.002, "low": close * 0.998, "close": close, "volume": 10.0})


def funding(rates, start="2024-12-31 16:00", freq="8h", column="funding_rate") -> pd.DataFrame:
    return pd.DataFrame({"date": pd.date_range(start, periods=len(rates), freq=freq, tz="UTC"), column: rates})


def test_funding_is_known_at_the_funding_candles_close():
    # 8h rows at 16:00 (day before), 00:00, 08:00: each is known one funding candle (8h) later.
    c = candles()
    got = funding_at_close(c["date"], funding([1e-4, 2e-4, 3e-4]), timeframe="5m", max_staleness="12h")
    close = c["date"] + pd.Timedelta("5min")

    def after(hh):
        return close >= pd.Timestamp(f"2025-01-01 {hh}", tz="UTC")

    want = np.select([after("16:00"), after("08:00"), after("00:00")], [3e-4, 2e-4, 1e-4], np.nan)
    np.testing.assert_array_equal(got, want)


def test_funding_staleness_nan_rows_and_legacy_column():
    c = candles()
    # One row, known at 00:00 + 1h (single row: 1h funding candle); stale after 2h.
    one = funding([5e-4], start="2025-01-01 00:00")
    got = funding_at_close(c["date"], one, timeframe="5m", max_staleness="2h")
    close_h = (c["date"] + pd.Timedelta("5min") - pd.Timestamp("2025-01-01", tz="UTC")) / pd.Timedelta("1h")
    np.testing.assert_array_equal(np.isfinite(got), (close_h >= 1) & (close_h <= 3))
    # A NaN row is skipped (the previous value stays), a legacy file keeps the rate in "open".
    with_nan = funding([1e-4, np.nan, 3e-4])
    legacy = funding([1e-4, np.nan, 3e-4], column="open")
    a = funding_at_close(c["date"], with_nan, timeframe="5m", max_staleness="1d")
    np.testing.assert_array_equal(a, funding_at_close(c["date"], legacy, timeframe="5m", max_staleness="1d"))
    close = c["date"] + pd.Timedelta("5min")
    between = (close >= pd.Timestamp("2025-01-01 08:00", tz="UTC")) & (close < pd.Timestamp("2025-01-01 16:00", tz="UTC"))
    assert (a[between.to_numpy()] == 1e-4).all() and a[-1] == 3e-4
    assert np.isnan(funding_at_close(c["date"], None, timeframe="5m", max_staleness="1d")).all()


def test_funding_column_is_the_engines_funding():
    c = candles()
    f = funding(np.random.default_rng(1).normal(1e-4, 5e-5, 4))
    cfg = liqrisk.LiqConfig.from_mapping({"windows": ["12h", "1d"]})
    dates, cols = candle_arrays(c)
    engine = align(dates, cols, cfg=cfg, timeframe="5m", pair=PAIR, funding_rate=f)[0].funding
    strat = WithMixin(dict(CONFIG, liqrisk={"windows": ["12h", "1d"]}))
    out = strat._liq_columns.build(c, PAIR, columns.AuxCandles(funding_rate=f), live=False)
    np.testing.assert_array_equal(out["liq_funding_rate"].to_numpy(), engine)
    assert np.isfinite(engine).sum() > 100


def test_load_config_merges_and_checks_the_window():
    cfg = columns.load_config({"windows": ["12h", "1d"], "funding_max_staleness": "6h"},
                              {"liqrisk": {"funding_max_staleness": "4h"}}, "1d")
    assert list(cfg.windows) == ["12h", "1d"] and cfg.funding_max_staleness == "4h"
    with pytest.raises(liqrisk.ConfigError, match="liqrisk_window='2d'"):
        columns.load_config({"windows": ["12h", "1d"]}, {}, "2d")


@pytest.mark.parametrize("tf, want", [("1m", "5m"), ("3m", "5m"), ("5m", "5m"), ("1h", "1h")])
def test_oi_timeframe(tf, want):
    assert columns.oi_timeframe(tf) == want


class RaisingDP:
    """A DataProvider whose candle reader fails (a corrupt file, say)."""

    runmode = None

    def get_pair_dataframe(self, pair, timeframe=None, candle_type=""):
        raise OSError("corrupt feather file")

    def get_funding_rate_timeframe(self):
        return "1h"


def test_a_failing_reader_warns_once_with_pair_and_error_and_falls_back(caplog):
    strat = WithMixin(dict(CONFIG, liqrisk={"windows": ["12h", "1d"]}))
    strat.dp = RaisingDP()
    with caplog.at_level(logging.WARNING, logger="liqrisk.adapter"):
        for _ in range(2):
            out = strat.liqrisk_populate(candles(), {"pair": PAIR})
    failed = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failed) == 3  # OI, funding, mark: once each, not once per call
    assert all(PAIR in m and "corrupt feather file" in m for m in failed)
    assert (out["liq_oi_fallback"] == 1).all() and (out["liq_funding_fallback"] == 1).all()
