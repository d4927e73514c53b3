"""``liqrisk validate --oi-sources`` and the archive taker split (``--no-taker``) (#17)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from freqtrade.data.history import get_datahandler
from freqtrade.enums import CandleType

from liqrisk.cli import main
from liqrisk.core.synthetic import random_market
from liqrisk.core.taker import RATIO_COLUMN
from liqrisk.tools.download.store import store_ratios

PAIR = "BTC/USDT:USDT"


def _setup(tmp_path, n=900):
    m = random_market(n, seed=8)
    oi = m["open_interest"]
    wiggle = 1 + 0.05 * np.random.default_rng(1).standard_normal(n)
    for name, share in (("binance", 0.6), ("bybit", 0.4 * wiggle)):
        folder = tmp_path / name
        (folder / "futures").mkdir(parents=True)
        frame = pd.DataFrame({"date": oi["date"], "open_interest_amount": oi["open_interest_amount"] * share,
                              "open_interest_value": oi["open_interest_value"] * share})
        get_datahandler(folder, "feather").ohlcv_store(PAIR, "5m", frame, candle_type=CandleType.OPEN_INTEREST)
    get_datahandler(tmp_path / "binance", "feather").ohlcv_store(PAIR, "5m", m["ohlcv"], candle_type=CandleType.FUTURES)
    rng = np.random.default_rng(2)
    liq = pd.DataFrame({"date": m["ohlcv"]["date"], "long_usd": rng.exponential(1e5, n) * (rng.random(n) < 0.3),
                        "short_usd": rng.exponential(1e5, n) * (rng.random(n) < 0.3)})
    path = tmp_path / "liq.csv"
    liq.to_csv(path, index=False)
    dates = pd.to_datetime(m["ohlcv"]["date"], utc=True)
    store_ratios(tmp_path / "binance", PAIR, pd.DataFrame({
        "date": dates + pd.Timedelta("5min"), "count_toptrader_long_short_ratio": np.nan,
        "sum_toptrader_long_short_ratio": np.nan, "count_long_short_ratio": np.nan,
        RATIO_COLUMN: np.exp(rng.normal(0, 0.3, n))}))
    return path


def _run(tmp_path, capsys, *extra):
    out = tmp_path / f"v{len(list(tmp_path.glob('v*.json')))}.json"
    rc = main(["validate", "--datadir", str(tmp_path / "binance"), "--pair", PAIR, "--timeframe", "5m",
               "--window", "1d", "--liquidations", str(tmp_path / "liq.csv"), "--json", str(out), *extra])
    assert rc == 0
    return capsys.readouterr().out, json.loads(out.read_text())


def test_validate_sums_sources_and_reports_the_taker_split(tmp_path, capsys):
    _setup(tmp_path)
    text, doc = _run(tmp_path, capsys, "--oi-sources", "binance", "bybit")
    assert "summed over binance, bybit; all present on 900 of 900 OI stamps" in text
    assert "the archive's taker ratio on 900 of 900 candles" in text
    assert doc["meta"]["oi_sources"] == ["binance", "bybit"] and doc["meta"]["taker_candles"] == 900
    own_text, own = _run(tmp_path, capsys)
    assert "summed over" not in own_text and own["meta"]["oi_sources"] == []
    assert own["long"]["spearman"] != doc["long"]["spearman"]  # bybit's own moves seed other levels
    plain_text, plain = _run(tmp_path, capsys, "--no-taker")
    assert "long/short split: candle shape" in plain_text and plain["meta"]["taker_candles"] == 0
    assert plain["long"]["spearman"] != own["long"]["spearman"]


def test_oi_sources_goes_with_a_datadir(tmp_path, capsys):
    csv = tmp_path / "one.csv"
    csv.write_text("date,open,high,low,close,volume,oi_usd_close,long_liq_usd,short_liq_usd\n")
    assert main(["validate", "--csv", str(csv), "--pair", PAIR, "--oi-sources", "bybit"]) == 2
    assert "--oi-sources" in capsys.readouterr().err
