"""The market simulator: files freqtrade can read, exact liquidations, a realistic tape."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liqrisk.core.liquidation import liquidation_price
from liqrisk.tools.sim.pair_market import PairMarket
from liqrisk.tools.sim.writer import DAY_MS, parse_end, simulate_datadir

PAIRS = ["BTC/USDT:USDT", "SOL/USDT:USDT"]
DAYS = 4
END = "2025-03-31"


@pytest.fixture(scope="module")
def simdir(tmp_path_factory) -> Path:
    datadir = tmp_path_factory.mktemp("sim") / "data"
    simulate_datadir(datadir, PAIRS, days=DAYS, seed=7, end=END)
    return datadir


def _truth(simdir: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(simdir / "binance" / "liqrisk_truth" / f"{name}.parquet")


def _load(simdir: Path, pair: str, timeframe: str, candle_type: str) -> pd.DataFrame:
    from freqtrade.data.history import get_datahandler
    from freqtrade.enums import CandleType

    handler = get_datahandler(simdir / "binance", "feather")
    return handler.ohlcv_load(pair, timeframe, CandleType.from_string(candle_type), fill_missing=False)


def test_same_seed_same_data_other_seed_other_data(tmp_path, simdir):
    again = tmp_path / "again"
    other = tmp_path / "other"
    simulate_datadir(again, PAIRS, days=DAYS, seed=7, end=END)
    simulate_datadir(other, PAIRS, days=DAYS, seed=8, end=END)
    name = "BTC_USDT_USDT-1m-futures.feather"
    first = pd.read_feather(simdir / "binance" / "futures" / name)
    pd.testing.assert_frame_equal(first, pd.read_feather(again / "binance" / "futures" / name))
    assert not first["close"].equals(pd.read_feather(other / "binance" / "futures" / name)["close"])
    pd.testing.assert_frame_equal(
        _truth(simdir, "liquidations"),
        pd.read_parquet(again / "binance" / "liqrisk_truth" / "liquidations.parquet"),
    )


@pytest.mark.parametrize(
    ("timeframe", "candle_type", "columns", "step_ms"),
    [
        ("1m", "futures", ["open", "high", "low", "close", "volume"], 60_000),
        ("5m", "futures", ["open", "high", "low", "close", "volume"], 300_000),
        ("1h", "futures", ["open", "high", "low", "close", "volume"], 3_600_000),
        ("1m", "mark", ["open", "high", "low", "close", "volume"], 60_000),
        ("1h", "mark", ["open", "high", "low", "close", "volume"], 3_600_000),
        ("1h", "funding_rate", ["funding_rate"], 8 * 3_600_000),
        ("5m", "open_interest", ["open_interest_amount", "open_interest_value"], 300_000),
        ("1h", "open_interest", ["open_interest_amount", "open_interest_value"], 3_600_000),
    ],
)
def test_freqtrade_loads_every_file_with_regular_timestamps(simdir, timeframe, candle_type, columns, step_ms):
    end_ms = parse_end(END)
    for pair in PAIRS:
        df = _load(simdir, pair, timeframe, candle_type)
        assert list(df.columns[: len(columns) + 1]) == ["date", *columns]
        assert str(df["date"].dtype) == "datetime64[ms, UTC]"
        ms = df["date"].astype("int64").to_numpy()
        assert ms[0] == end_ms - DAYS * DAY_MS
        assert np.all(np.diff(ms) == step_ms)
        assert ms[-1] + step_ms == end_ms
        assert df[columns].notna().all().all()


def test_price_scales_differ_and_candles_are_consistent(simdir):
    btc = _load(simdir, "BTC/USDT:USDT", "1m", "futures")
    sol = _load(simdir, "SOL/USDT:USDT", "1m", "futures")
    assert 40_000 < btc["close"].median() < 150_000
    assert 50 < sol["close"].median() < 400
    for df in (btc, sol, _load(simdir, "BTC/USDT:USDT", "1m", "mark")):
        assert (df["high"] >= df[["open", "close"]].max(axis=1)).all()
        assert (df["low"] <= df[["open", "close"]].min(axis=1)).all()
    assert (btc["volume"] > 0).all()
    fut5 = _load(simdir, "BTC/USDT:USDT", "5m", "futures")
    grouped = btc.groupby(btc["date"].dt.floor("5min")).agg(
        open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last"),
        volume=("volume", "sum"),
    )
    np.testing.assert_allclose(fut5[["open", "high", "low", "close", "volume"]].to_numpy(), grouped.to_numpy())


def test_funding_settles_every_8h_within_caps(simdir):
    df = _load(simdir, "SOL/USDT:USDT", "1h", "funding_rate")
    assert (df["date"].dt.hour % 8 == 0).all() and (df["date"].dt.minute == 0).all()
    assert df["funding_rate"].abs().max() <= 0.0075 + 1e-12
    btc = _load(simdir, "BTC/USDT:USDT", "1h", "funding_rate")
    assert btc["funding_rate"].abs().max() <= 0.003 + 1e-12


def test_open_interest_is_the_sum_of_open_cohorts(simdir):
    positions = _truth(simdir, "positions")
    for pair in PAIRS:
        pos = positions[positions["pair"] == pair]
        opened = pos["open_ms"].to_numpy()
        ended = pos["end_ms"].to_numpy()
        qty = pos["qty"].to_numpy()
        oi = _load(simdir, pair, "1h", "open_interest")
        for t, amount in zip(oi["date"].astype("int64"), oi["open_interest_amount"], strict=True):
            alive = (opened < t) & ((ended < 0) | (ended >= t))
            assert amount == pytest.approx(qty[alive].sum(), rel=1e-9, abs=1e-3)
        # Between two snapshots OI moves by what opened minus what closed or was liquidated.
        t0, t1 = oi["date"].astype("int64").iloc[[5, 6]]
        delta = qty[(opened >= t0) & (opened < t1)].sum() - qty[(ended >= t0) & (ended < t1)].sum()
        change = oi["open_interest_amount"].iloc[6] - oi["open_interest_amount"].iloc[5]
        assert change == pytest.approx(delta, rel=1e-6, abs=1e-2)


def test_every_liquidation_is_at_the_exact_price_after_the_mark_crossed_it(simdir):
    liq = _truth(simdir, "liquidations")
    assert len(liq) > 100
    for side in ("long", "short"):
        ev = liq[liq["side"] == side]
        expected = liquidation_price(
            ev["entry_price"].to_numpy(), ev["leverage"].to_numpy(), side=side,
            maintenance_margin_rate=ev["mmr"].to_numpy(), cum=ev["cum"].to_numpy(),
            notional=ev["position_notional"].to_numpy(),
        )
        np.testing.assert_allclose(ev["price"].to_numpy(), expected, rtol=1e-12)
        np.testing.assert_allclose(ev["usd"], ev["qty"] * ev["price"], rtol=1e-12)
        crossed = ev["mark"] <= ev["price"] if side == "long" else ev["mark"] >= ev["price"]
        assert crossed.all()
    for pair in PAIRS:
        mark = _load(simdir, pair, "1m", "mark")
        minute = mark.set_index(mark["date"].astype("int64"))
        ev = liq[liq["pair"] == pair]
        bar = minute.loc[ev["date"].to_numpy() // 60_000 * 60_000]
        longs = (ev["side"] == "long").to_numpy()
        assert (bar["low"].to_numpy()[longs] <= ev["price"].to_numpy()[longs]).all()
        assert (bar["high"].to_numpy()[~longs] >= ev["price"].to_numpy()[~longs]).all()
    assert (liq["leverage"] >= 2).all() and (liq["leverage"] <= 150).all()


def test_liquidations_cascade(simdir):
    liq = _truth(simdir, "liquidations")
    # Rounds of one cascade are 250 ms apart inside a 10 s sub-step: several rounds in a
    # row on one pair and side is a liquidation feeding the next one.
    liq = liq.assign(step=liq["date"] // 10_000)
    rounds = liq.groupby(["pair", "side", "step"], observed=True)["date"].nunique()
    assert rounds.max() >= 3
    per_minute = liq.groupby(["pair", "side", liq["date"] // 60_000], observed=True).size()
    assert per_minute.max() >= 10


@pytest.mark.parametrize("seed", [1, 2])
def test_returns_have_fat_tails_and_volatility_clusters(seed):
    market = PairMarket("BTC/USDT:USDT", seed, parse_end(END) - 30 * DAY_MS)
    close = market.advance(30 * 1440).fut[:, 3]
    r = np.diff(np.log(close))
    z = (r - r.mean()) / r.std()
    assert np.mean(z**4) - 3.0 > 5.0  # a normal's excess kurtosis is 0
    hourly = np.diff(np.log(close[::60]))
    zh = (hourly - hourly.mean()) / hourly.std()
    assert np.mean(zh**4) - 3.0 > 1.0
    a = np.abs(r)
    for lag in (1, 10, 60):
        assert np.corrcoef(a[:-lag], a[lag:])[0, 1] > 0.1


def test_levels_snapshot_matches_open_cohorts(simdir):
    levels = _truth(simdir, "levels_1h")
    positions = _truth(simdir, "positions")
    t = int(levels["date"].iloc[len(levels) // 2])
    snap = levels[(levels["date"] == t) & (levels["pair"] == "BTC/USDT:USDT")]
    pos = positions[positions["pair"] == "BTC/USDT:USDT"]
    alive = pos[(pos["open_ms"] < t) & ((pos["end_ms"] < 0) | (pos["end_ms"] >= t))]
    assert snap["usd"].sum() == pytest.approx((alive["qty"] * alive["liq_price"]).sum(), rel=1e-9)
    longs = snap[snap["side"] == "long"]
    assert longs["usd"].sum() == pytest.approx(
        (alive["qty"] * alive["liq_price"])[alive["side"] == "long"].sum(), rel=1e-9
    )
