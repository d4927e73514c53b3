"""Real per-candle CSVs into freqtrade's format (``liqrisk.tools.demo.realdata``): the files
round-trip through freqtrade's own data handler with the CSV's values and dates.

Reads ``../shared/data/real-intraday``; skipped when ``../shared`` is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liqrisk.tools.demo.realdata import cascade_candles, pair_from_filename, stop_outs, store_candle_csv

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real-intraday"
CSV = REAL / "BTC_1h_coinalyze_2024-06_2024-08.csv"

pytestmark = pytest.mark.skipif(not CSV.is_file(), reason=f"real data not available ({CSV} absent; ../shared "
                                                          "holds internal reference data only)")


# freqtrade's gap fill (ohlcv_load -> ohlcv_fill_up_missing_data) calls reset_index(inplace=True),
# which pandas deprecates; the warning is freqtrade's, not ours.
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index is deprecated")
def test_csv_round_trips_through_freqtrades_data_handler(tmp_path):
    from freqtrade.data.history import get_datahandler
    from freqtrade.enums import CandleType

    cf = store_candle_csv(CSV, tmp_path)
    pair = pair_from_filename(CSV)
    assert pair == "BTC/USDT:USDT"
    handler = get_datahandler(tmp_path / "binance", "feather")
    candles = handler.ohlcv_load(pair, "1h", candle_type=CandleType.FUTURES)
    oi = handler.ohlcv_load(pair, "1h", candle_type=CandleType.OPEN_INTEREST)

    assert len(candles) == len(cf.ohlcv) == 1465
    pd.testing.assert_series_equal(candles["date"], cf.ohlcv["date"], check_dtype=False)
    for col in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(candles[col], cf.ohlcv[col])
    # OI at the candle's close, stamped with the candle's open date (known at D + 1h).
    raw = pd.read_csv(CSV)
    assert list(oi.columns[:3]) == ["date", "open_interest_amount", "open_interest_value"]
    pd.testing.assert_series_equal(oi["date"], candles["date"], check_dtype=False)
    np.testing.assert_allclose(oi["open_interest_amount"], raw["oi_close_coin"], rtol=1e-9)
    np.testing.assert_allclose(oi["open_interest_value"], raw["oi_close_coin"] * raw["close"], rtol=1e-9)


def test_stop_outs_count_exits_in_cascade_candles():
    actual = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=100, freq="1h", tz="UTC"),
                           "long_usd": np.arange(100.0), "short_usd": np.zeros(100)})
    dates, threshold = cascade_candles(actual)
    assert list(dates) == [actual["date"].iloc[99]] and threshold == pytest.approx(98.01)
    trades = pd.DataFrame({
        "pair": ["BTC/USDT:USDT"] * 3, "is_short": [False] * 3,
        "open_date": pd.to_datetime(["2024-01-04"] * 3, utc=True),
        "close_date": pd.to_datetime(["2024-01-05 03:00", "2024-01-05 03:00", "2024-01-05 02:00"], utc=True),
        "exit_reason": ["stop_loss", "roi", "stop_loss"], "profit_ratio": [0.0] * 3, "profit_abs": [0.0] * 3,
    })
    assert stop_outs(trades, "1h", {"BTC/USDT:USDT": dates}) == {
        "stop_outs": 2, "liquidations": 0, "stop_outs_in_cascades": 1}
    assert "stop_outs_in_cascades" not in stop_outs(trades, "1h")
