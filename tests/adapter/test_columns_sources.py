"""The mixin's OI summed over exchanges (``oi_sources``) and taker split from the archive's
statistics file: the same frames ``liqrisk.tools.datadir.load_market`` builds (#17)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from freqtrade.data.history import get_datahandler
from freqtrade.enums import CandleType

from liqrisk import compute_features
from liqrisk.core.oi_sources import FLAG_COLUMN
from liqrisk.core.synthetic import random_market
from liqrisk.core.taker import RATIO_COLUMN
from liqrisk.tools.datadir import load_market
from liqrisk.tools.download.store import store_ratios
from tests.adapter.test_mixin import CONFIG, PAIR, WithMixin

WINDOWS = {"windows": ["12h", "1d"]}


class FileDP:
    """A backtest DataProvider over the binance folder (freqtrade reads only its own exchange)."""

    runmode = None

    def __init__(self, datadir, exchange="binance"):
        self._config = {"datadir": str(datadir), "exchange": {"name": exchange}}
        self.datadir = datadir

    def get_pair_dataframe(self, pair, timeframe=None, candle_type=""):
        df = get_datahandler(self.datadir, "feather").ohlcv_load(pair, timeframe, CandleType(candle_type or "futures"),
                                                                 fill_missing=False, warn_no_data=False)
        return df

    def get_funding_rate_timeframe(self):
        return "1h"


def _datadir(tmp_path, n=400):
    m = random_market(n, seed=21)
    oi = m["open_interest"]
    for name, share in (("binance", 0.6), ("bybit", 0.4)):
        folder = tmp_path / name
        (folder / "futures").mkdir(parents=True)
        frame = pd.DataFrame({"date": oi["date"], "open_interest_amount": oi["open_interest_amount"] * share,
                              "open_interest_value": oi["open_interest_value"] * share})
        if name == "bybit":
            frame = frame.drop(index=range(250, 270))
        get_datahandler(folder, "feather").ohlcv_store(PAIR, "5m", frame.reset_index(drop=True),
                                                       candle_type=CandleType.OPEN_INTEREST)
    get_datahandler(tmp_path / "binance", "feather").ohlcv_store(PAIR, "5m", m["ohlcv"], candle_type=CandleType.FUTURES)
    return m


def _features(market):
    kw = market.engine_inputs()
    kw.pop("mark")
    return compute_features(market.ohlcv, config=WINDOWS, **kw)


def test_mixin_sums_the_exchanges_and_flags_each_candle(tmp_path):
    m = _datadir(tmp_path)
    strat = WithMixin(dict(CONFIG, liqrisk={**WINDOWS, "oi_sources": ["binance", "bybit", "okx"]}))
    strat.dp = FileDP(tmp_path / "binance")
    out = strat.liqrisk_populate(m["ohlcv"], {"pair": PAIR})
    flag = out[FLAG_COLUMN].to_numpy()
    assert out[FLAG_COLUMN].dtype == np.float64
    assert flag[250] == 0 and flag[270] == 0 and set(flag[251:270]) == {1.0} and set(flag[271:]) == {3.0}
    # The tools read the same sum: identical features.
    market = load_market(PAIR, "5m", datadir=tmp_path / "binance", oi_sources=["binance", "bybit", "okx"])
    want = _features(market)
    pd.testing.assert_frame_equal(out[want.columns].reset_index(drop=True), want, check_exact=True)


def test_without_the_setting_there_is_no_flag_and_own_oi_only(tmp_path):
    m = _datadir(tmp_path)
    strat = WithMixin(dict(CONFIG, liqrisk=WINDOWS))
    strat.dp = FileDP(tmp_path / "binance")
    out = strat.liqrisk_populate(m["ohlcv"], {"pair": PAIR})
    assert FLAG_COLUMN not in out.columns
    want = _features(load_market(PAIR, "5m", datadir=tmp_path / "binance", oi_sources=None))
    pd.testing.assert_frame_equal(out[want.columns].reset_index(drop=True), want, check_exact=True)


def test_archive_taker_ratio_sets_the_split(tmp_path):
    m = _datadir(tmp_path)
    dates = pd.to_datetime(m["ohlcv"]["date"], utc=True)
    ratio = np.exp(np.random.default_rng(3).normal(0, 0.3, len(dates)))
    store_ratios(tmp_path / "binance", PAIR, pd.DataFrame({
        "date": dates + pd.Timedelta("5min"), "count_toptrader_long_short_ratio": np.nan,
        "sum_toptrader_long_short_ratio": np.nan, "count_long_short_ratio": np.nan, RATIO_COLUMN: ratio}))
    strat = WithMixin(dict(CONFIG, liqrisk=WINDOWS))
    strat.dp = FileDP(tmp_path / "binance")
    out = strat.liqrisk_populate(m["ohlcv"], {"pair": PAIR})
    # No funding file: the long share is the taker buy share r / (1 + r).
    np.testing.assert_allclose(out["liq_long_share"].to_numpy(), ratio / (1 + ratio), rtol=1e-12)
    assert "taker_buy_volume" not in out.columns  # the strategy's frame is not given the input column
    want = _features(load_market(PAIR, "5m", datadir=tmp_path / "binance"))
    pd.testing.assert_frame_equal(out[want.columns].reset_index(drop=True), want, check_exact=True)
    off = WithMixin(dict(CONFIG, liqrisk={**WINDOWS, "use_archive_taker": False}))
    off.dp = FileDP(tmp_path / "binance")
    plain = off.liqrisk_populate(m["ohlcv"], {"pair": PAIR})
    assert not np.allclose(plain["liq_long_share"].to_numpy(), out["liq_long_share"].to_numpy())
