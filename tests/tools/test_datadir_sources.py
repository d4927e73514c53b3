"""``load_market`` with ``oi_sources`` (OI summed over exchanges' datadirs) and the archive's
taker ratio file (#17)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
from freqtrade.data.history import get_datahandler
from freqtrade.enums import CandleType

from liqrisk import compute_features
from liqrisk.core.oi_sources import SOURCES_COLUMN, sources_flag
from liqrisk.core.synthetic import random_market
from liqrisk.core.taker import RATIO_COLUMN, taker_buy_share
from liqrisk.errors import ConfigError
from liqrisk.tools.datadir import load_market
from liqrisk.tools.download.store import store_ratios

PAIR = "BTC/USDT:USDT"
SHARES = {"binance": 0.5, "bybit": 0.3, "okx": 0.2}


def _store(folder, frame, tf, candle_type):
    get_datahandler(folder, "feather").ohlcv_store(PAIR, tf, frame.reset_index(drop=True), candle_type=candle_type)


@pytest.fixture
def root(tmp_path):
    """user_data/data/{binance,bybit,okx}: binance candles, each exchange a share of the OI
    (bybit's without value, as freqtrade's download-data stores it; okx missing 20 rows)."""
    m = random_market(300, seed=11)
    oi = m["open_interest"]
    for name, share in SHARES.items():
        folder = tmp_path / name
        (folder / "futures").mkdir(parents=True)
        if name == "binance":
            _store(folder, m["ohlcv"], "5m", CandleType.FUTURES)
        frame = pd.DataFrame({"date": oi["date"], "open_interest_amount": oi["open_interest_amount"] * share,
                              "open_interest_value": oi["open_interest_value"] * share})
        if name == "bybit":
            frame["open_interest_value"] = np.nan
        if name == "okx":
            frame = frame.drop(index=range(200, 220))
        _store(folder, frame, "5m", CandleType.OPEN_INTEREST)
    return tmp_path, m


def test_summed_oi_equals_the_sum_of_the_exchanges(root):
    path, m = root
    market = load_market(PAIR, "5m", datadir=path / "binance", oi_sources=["binance", "bybit", "okx"])
    assert market.oi_sources == ("binance", "bybit", "okx")
    oi = market.open_interest
    close = m["ohlcv"]["close"].to_numpy()
    value = m["open_interest"]["open_interest_value"].to_numpy()
    amount = m["open_interest"]["open_interest_amount"].to_numpy()
    # bybit has amounts only: priced at the close of the candle known with the row.
    want = 0.5 * value + 0.3 * amount * close + 0.2 * value
    have = np.ones(len(oi), bool)
    have[200:220] = False
    np.testing.assert_allclose(oi["open_interest_value"].to_numpy()[have], want[have], rtol=1e-12)
    np.testing.assert_allclose(oi["open_interest_value"].to_numpy()[~have], (want - 0.2 * value)[~have], rtol=1e-12)
    assert set(oi[SOURCES_COLUMN].to_numpy()[have]) == {7.0} and set(oi[SOURCES_COLUMN].to_numpy()[~have]) == {3.0}

    feats = compute_features(market.ohlcv, pair=PAIR, **{k: v for k, v in market.engine_inputs().items() if k != "pair"})
    flag = sources_flag(market.ohlcv["date"], oi, feats["liq_oi_fallback"], timeframe="5m")
    assert flag[200] == 0 and flag[220] == 0  # okx leaves / returns: not a change in positions
    assert set(flag[201:220]) == {3.0} and set(flag[221:]) == {7.0}


def test_sources_come_from_the_config_and_a_missing_exchange_is_named(root, caplog):
    path, _ = root
    cfg = path / "config.json"
    cfg.write_text(json.dumps({"datadir": str(path / "binance"), "liqrisk": {"oi_sources": ["binance", "gate"]}}))
    with caplog.at_level(logging.WARNING):
        market = load_market(PAIR, "5m", config=cfg)
    assert market.oi_sources == ("binance", "gate")
    assert set(market.open_interest[SOURCES_COLUMN]) == {1.0}
    assert "no open_interest for BTC/USDT:USDT from gate" in caplog.text
    cfg.write_text(json.dumps({"datadir": str(path / "binance"), "liqrisk": {"oi_sources": ["../x"]}}))
    with pytest.raises(ConfigError, match="not an exchange id"):
        load_market(PAIR, "5m", config=cfg)


def test_without_the_setting_nothing_changes(root):
    path, m = root
    market = load_market(PAIR, "5m", datadir=path / "binance")
    assert market.oi_sources == () and SOURCES_COLUMN not in market.open_interest.columns
    assert "taker_buy_volume" not in market.ohlcv.columns and market.taker_candles == 0


def test_archive_taker_file_becomes_taker_buy_volume(root):
    path, m = root
    dates = m["ohlcv"]["date"]
    rng = np.random.default_rng(0)
    ratios = pd.DataFrame({"date": pd.to_datetime(dates, utc=True) + pd.Timedelta("5min"),
                           **{c: np.nan for c in ("count_toptrader_long_short_ratio", "sum_toptrader_long_short_ratio",
                                                  "count_long_short_ratio")},
                           RATIO_COLUMN: np.exp(rng.normal(0, 0.2, len(dates)))})
    store_ratios(path / "binance", PAIR, ratios)
    market = load_market(PAIR, "5m", datadir=path / "binance")
    assert market.taker_candles == len(dates)
    share = taker_buy_share(dates, "5m", ratios)
    np.testing.assert_allclose(market.ohlcv["taker_buy_volume"].to_numpy(), share * m["ohlcv"]["volume"].to_numpy())
    off = load_market(PAIR, "5m", datadir=path / "binance", taker=False)
    assert "taker_buy_volume" not in off.ohlcv.columns
