"""Reading one per-candle CSV (OHLCV + OI + actual liquidations) without hand conversion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liqrisk.errors import ConfigError, DataError
from liqrisk.tools.validate.candle_csv import parse_column_map, read_candle_csv


def _frame(n=48, start="2024-06-01", freq="1h"):
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    return pd.DataFrame({
        "date": pd.date_range(start, periods=n, freq=freq, tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
        "open": close * 1.001, "high": close * 1.01, "low": close * 0.99, "close": close,
        "volume": rng.uniform(10, 20, n), "oi_close_coin": rng.uniform(1000, 2000, n),
        "oi_high_coin": 2100.0, "oi_low_coin": 900.0,
        "long_liq_coin": rng.uniform(0, 5, n), "short_liq_coin": rng.uniform(0, 5, n),
    })


def test_coin_columns_become_usd_at_the_close(tmp_path):
    raw = _frame()
    raw.to_csv(tmp_path / "x.csv", index=False)
    f = read_candle_csv(tmp_path / "x.csv")
    assert f.timeframe == "1h"
    np.testing.assert_allclose(f.actual["long_usd"], raw["long_liq_coin"] * raw["close"])
    np.testing.assert_allclose(f.open_interest["open_interest_value"], raw["oi_close_coin"] * raw["close"])
    np.testing.assert_allclose(f.open_interest["open_interest_high"], 2100.0 * raw["close"])
    np.testing.assert_allclose(f.ohlcv["volume"], raw["volume"])  # base coins stay coins


@pytest.mark.parametrize("scale,unit", [(1, "s"), (1000, "ms")])
def test_epoch_seconds_and_milliseconds_are_told_apart(tmp_path, scale, unit):
    raw = _frame()
    dates = pd.to_datetime(raw["date"], utc=True)
    raw["date"] = (dates.dt.as_unit("s").astype("int64") * scale).to_numpy()
    raw.to_csv(tmp_path / "x.csv", index=False)
    f = read_candle_csv(tmp_path / "x.csv")
    assert f.ohlcv["date"].iloc[0] == pd.Timestamp("2024-06-01", tz="UTC"), unit


def test_mapping_with_a_unit_and_missing_actuals_stay_missing(tmp_path):
    raw = _frame().rename(columns={"oi_close_coin": "oi_total"})
    raw.loc[5, "short_liq_coin"] = np.nan
    raw.to_csv(tmp_path / "x.csv", index=False)
    with pytest.raises(ConfigError, match="oi=oi_total:usd"):
        read_candle_csv(tmp_path / "x.csv", columns={"oi": "oi_total"})
    f = read_candle_csv(tmp_path / "x.csv", columns=parse_column_map(["oi=oi_total:coin"]))
    assert len(f.actual) == len(raw) - 1 and len(f.ohlcv) == len(raw)


def test_clear_errors(tmp_path):
    raw = _frame()
    raw.drop(columns="long_liq_coin").to_csv(tmp_path / "nolong.csv", index=False)
    with pytest.raises(DataError, match="no long column"):
        read_candle_csv(tmp_path / "nolong.csv")
    _frame(freq="7min").to_csv(tmp_path / "odd.csv", index=False)
    with pytest.raises(DataError, match="420 s apart"):
        read_candle_csv(tmp_path / "odd.csv")
    (tmp_path / "empty.csv").write_text("date,open\n")
    with pytest.raises(DataError, match="no rows"):
        read_candle_csv(tmp_path / "empty.csv")
    (tmp_path / "zero.csv").write_text("")
    with pytest.raises(DataError, match="the file is empty"):
        read_candle_csv(tmp_path / "zero.csv")
    with pytest.raises(ConfigError, match="unknown field"):
        parse_column_map(["price=close"])


def test_cli_scores_a_candle_csv(tmp_path, capsys):
    from liqrisk.cli import main

    raw = _frame(n=24 * 20)
    raw.to_csv(tmp_path / "x.csv", index=False)
    out = tmp_path / "fig.json"
    assert main(["validate", "--csv", str(tmp_path / "x.csv"), "--pair", "ETH/USDT:USDT", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "ETH/USDT:USDT 1h  window 1w" in text and "baseline wick_oi" in text
    import json

    doc = json.loads(out.read_text())
    assert doc["meta"]["n_candles"] == 24 * 20 - 24 * 7  # the first window is warm-up


def test_cli_csv_flag_clashes_exit_2(tmp_path, capsys):
    from liqrisk.cli import main

    _frame().to_csv(tmp_path / "x.csv", index=False)
    assert main(["validate", "--csv", str(tmp_path / "x.csv"), "--pair", "X/USDT:USDT", "--timeframe", "5m"]) == 2
    assert "are 1h apart" in capsys.readouterr().err
    assert main(["validate", "--csv", str(tmp_path / "x.csv"), "--pair", "X/USDT:USDT", "--ceiling", "4"]) == 2
    assert main(["validate", "--pair", "X/USDT:USDT", "--columns", "oi=x"]) == 2
    assert "--columns goes with --csv" in capsys.readouterr().err
