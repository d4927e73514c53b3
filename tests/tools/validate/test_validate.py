"""``liqrisk validate`` and ``liqrisk.tools.validate``: alignment, metrics, bad input, end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liqrisk.cli import main
from liqrisk.errors import ConfigError, DataError
from liqrisk.tools.sim.writer import simulate_datadir
from liqrisk.tools.validate.actuals import actuals_per_candle
from liqrisk.tools.validate.metrics import auc_any, partial_spearman, spearman, top_decile_hit_rate
from liqrisk.tools.validate.scoring import pick_window, validate_frames

PAIR = "BTC/USDT:USDT"
DAYS = 4


@pytest.fixture(scope="module")
def simdir(tmp_path_factory) -> Path:
    datadir = tmp_path_factory.mktemp("valsim") / "data"
    simulate_datadir(datadir, [PAIR], days=DAYS, seed=11, end="2025-03-31")
    return datadir


def _truth(simdir: Path) -> pd.DataFrame:
    return pd.read_parquet(simdir / "binance" / "liqrisk_truth" / "liquidations.parquet")


def _hourly_csv(simdir: Path, path: Path) -> Path:
    """A hand-made 'real-format' file: per-hour totals date, long_usd, short_usd (ISO dates)."""
    ev = _truth(simdir)
    hour = pd.to_datetime(ev["date"] // 3_600_000 * 3_600_000, unit="ms", utc=True)
    tot = ev.assign(hour=hour).pivot_table(index="hour", columns="side", values="usd", aggfunc="sum",
                                           observed=True, fill_value=0.0)
    full = pd.date_range("2025-03-27", "2025-03-30 23:00", freq="1h", tz="UTC")
    tot = tot.reindex(full, fill_value=0.0)
    pd.DataFrame({"date": full.strftime("%Y-%m-%d %H:%M:%S+00:00"), "long_usd": tot.get("long", 0.0).to_numpy(),
                  "short_usd": tot.get("short", 0.0).to_numpy()}).to_csv(path, index=False)
    return path


# --- actuals ---------------------------------------------------------------------------


def test_events_are_summed_into_their_candle():
    dates = pd.date_range("2025-01-01", periods=4, freq="1h", tz="UTC")
    ms = dates.as_unit("ms").asi8
    ev = pd.DataFrame({"date": [ms[0] + 1, ms[0] + 3_599_999, ms[2], ms[3] + 10],
                       "side": ["long", "short", "long", "LONG"], "usd": [1.0, 2.0, 3.0, 4.0]})
    act = actuals_per_candle(ev, dates, "1h")
    np.testing.assert_allclose(act["long_usd"], [1.0, 0.0, 3.0, 4.0])
    np.testing.assert_allclose(act["short_usd"], [2.0, 0.0, 0.0, 0.0])


def test_finer_totals_sum_and_partial_candles_are_missing():
    dates = pd.date_range("2025-01-01", periods=2, freq="1h", tz="UTC")
    rows = pd.date_range("2025-01-01", periods=20, freq="5min", tz="UTC")  # 12 + 8: the second hour is partial
    act = actuals_per_candle(pd.DataFrame({"date": rows, "long_usd": 1.0, "short_usd": 2.0}), dates, "1h")
    assert act["long_usd"].iloc[0] == 12.0 and act["short_usd"].iloc[0] == 24.0
    assert math.isnan(act["long_usd"].iloc[1])


@pytest.mark.parametrize("frame, match", [
    (pd.DataFrame({"date": pd.date_range("2025-01-01", periods=3, freq="1D", tz="UTC"), "long_usd": 1.0,
                   "short_usd": 1.0}), "apart but the timeframe is 1h"),
    (pd.DataFrame({"date": ["2025-01-01"], "longs": [1.0]}), "needs either per-candle columns"),
    (pd.DataFrame({"date": ["2030-01-01", "2030-01-02"], "side": ["long", "short"], "usd": [1.0, 1.0]}),
     "outside the data"),
    (pd.DataFrame({"date": ["2025-01-01 01:00"], "long_usd": [-5.0], "short_usd": [1.0]}), "negative USD"),
    (pd.DataFrame({"date": ["2025-01-01 01:00"], "side": ["buy"], "usd": [1.0]}), "'long' or 'short'"),
    (pd.DataFrame({"date": ["2025-01-01 01:00"], "long_usd": [np.nan], "short_usd": [1.0]}), "missing"),
])
def test_bad_actuals_raise_clear_errors(frame, match):
    dates = pd.date_range("2025-01-01", periods=48, freq="1h", tz="UTC")
    with pytest.raises(DataError, match=match):
        actuals_per_candle(frame, dates, "1h")


def test_window_must_be_longer_than_a_candle():
    with pytest.raises(ConfigError, match="not longer than the 1d candles"):
        pick_window({"windows": ["12h", "1d"]}, "1d")
    assert pick_window({"windows": ["12h", "1w", "1d"]}, "5m") == "1w"


# --- metrics ---------------------------------------------------------------------------


def test_metrics_on_known_values():
    rng = np.random.default_rng(0)
    z = rng.normal(size=2000)
    y = z + 0.5 * rng.normal(size=2000)
    x_info = y + 0.5 * rng.normal(size=2000)  # knows y beyond z
    x_copy = z + 0.01 * rng.normal(size=2000)  # only a copy of z
    assert partial_spearman(x_info, y, z) > 0.3
    assert abs(partial_spearman(x_copy, y, z)) < 0.1
    assert spearman(y, y) == pytest.approx(1.0)
    assert math.isnan(spearman(np.zeros(10), y[:10]))
    assert top_decile_hit_rate(y, y) == 1.0
    assert top_decile_hit_rate(-y, y) == 0.0


def test_auc_any_against_a_plain_pair_count():
    rng = np.random.default_rng(1)
    act = np.where(rng.random(300) < 0.1, rng.lognormal(10, 2, 300), 0.0)  # mostly zero, like 5m
    series = np.round(act * rng.lognormal(0, 1, 300) + rng.choice([0.0, 5.0], 300), -3)  # with ties
    pos, neg = series[act > 0], series[act <= 0]
    # Plain definition: over every (with, without) pair, 1 if it outranks, 1/2 if tied.
    plain = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))
    assert auc_any(series, act) == pytest.approx(plain, abs=1e-12)
    assert auc_any(act, act) == 1.0
    assert auc_any(-act, act) == 0.0
    assert auc_any(np.ones(300), act) == 0.5
    assert math.isnan(auc_any(series, np.zeros(300))) and math.isnan(auc_any(series, np.ones(300)))


# --- end to end ------------------------------------------------------------------------


def test_validate_frames_on_simulated_truth(simdir):
    from liqrisk.tools.datadir import load_market

    m = load_market(PAIR, "5m", datadir=simdir)
    meta = json.loads((simdir / "binance" / "liqrisk_truth" / "meta.json").read_text())
    res = validate_frames(m.ohlcv, _truth(simdir), open_interest=m.open_interest, funding_rate=m.funding_rate,
                          mark=m.mark, pair=PAIR, timeframe="5m", config={"windows": ["1d"]},
                          span_ms=(meta["start_ms"], meta["end_ms"]))
    assert res.meta["n_candles"] == (DAYS - 1) * 288  # one window of warm-up is not scored
    for side in ("long", "short"):
        m_side = res.metrics[side]
        assert m_side["spearman"] > 0.3
        assert m_side["spearman"] > m_side["baselines"][m_side["best_baseline"]]["spearman"]
        assert m_side["partial_spearman"] > 0


def test_cli_on_simulated_truth_writes_json_and_plot(simdir, tmp_path, capsys):
    out_json, out_png = tmp_path / "v.json", tmp_path / "v.png"
    rc = main(["validate", "--datadir", str(simdir), "--pair", PAIR, "--timeframe", "5m", "--window", "1d",
               "--json", str(out_json), "--plot", str(out_png)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "baseline wick_oi" in text and "partial spearman" in text and "any-liq AUC" in text
    doc = json.loads(out_json.read_text())
    assert doc["meta"]["window"] == "1d" and doc["long"]["spearman"] is not None
    for side in ("long", "short"):
        assert 0.5 < doc[side]["auc_any"] <= 1.0  # the estimate tells liquidation candles apart
        assert doc[side]["baselines"]["wick_oi"]["auc_any"] is not None
        assert -1.0 <= doc[side]["spearman_nonzero"] <= 1.0
    assert out_png.stat().st_size > 10_000


def test_cli_on_hand_made_hourly_file(simdir, tmp_path, capsys):
    path = _hourly_csv(simdir, tmp_path / "hourly.csv")
    rc = main(["validate", "--datadir", str(simdir), "--pair", PAIR, "--timeframe", "1h", "--window", "1d",
               "--liquidations", str(path), "--timerange", "20250328-"])
    assert rc == 0
    assert "2025-03-28 00:00:00+00:00 .." in capsys.readouterr().out


@pytest.mark.parametrize("content, timeframe, match", [
    ("date,long_usd,short_usd\n2025-03-28,1,2\n2025-03-29,3,4\n2025-03-30,5,6\n", "1h", "apart but the timeframe"),
    ("date,usd\n2025-03-28 01:00,1\n", "1h", "needs either per-candle columns"),
    ("date,long_usd,short_usd\n2031-01-01 00:00,1,2\n2031-01-01 01:00,1,2\n", "1h", "outside the data"),
    ("date,side,usd\n2025-03-28 01:00,long,-3\n", "1h", "negative USD"),
])
def test_cli_bad_input_exits_2(simdir, tmp_path, capsys, content, timeframe, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    rc = main(["validate", "--datadir", str(simdir), "--pair", PAIR, "--timeframe", timeframe, "--window", "1d",
               "--liquidations", str(path)])
    assert rc == 2
    assert match in capsys.readouterr().err


def test_cli_missing_file_and_short_window_exit_2(simdir, capsys):
    assert main(["validate", "--datadir", str(simdir), "--pair", PAIR, "--liquidations", "/nonexistent.csv"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["validate", "--datadir", str(simdir), "--pair", PAIR, "--timeframe", "1d", "--window", "12h"]) == 2
    assert "not longer than" in capsys.readouterr().err


def _score_5m(datadir: Path) -> dict:
    from liqrisk.tools.datadir import load_market

    m = load_market(PAIR, "5m", datadir=datadir)
    meta = json.loads((datadir / "binance" / "liqrisk_truth" / "meta.json").read_text())
    res = validate_frames(m.ohlcv, _truth(datadir), open_interest=m.open_interest, funding_rate=m.funding_rate,
                          mark=m.mark, pair=PAIR, timeframe="5m", config={"windows": ["1d"]},
                          span_ms=(meta["start_ms"], meta["end_ms"]))
    return {side: res.metrics[side]["spearman"] for side in ("long", "short")}


def test_a_denser_market_is_tracked_more_closely(simdir, tmp_path):
    # The same open interest in 10x as many, smaller cohorts: the truth is less lumpy, and
    # the estimate (an expectation over leverage and entries) tracks it more closely. This is
    # why the 5m score depends on the simulator's density (README, "Validation").
    dense = tmp_path / "dense"
    simulate_datadir(dense, [PAIR], days=DAYS, seed=11, end="2025-03-31", cohorts_per_minute=30.0)
    sparse_score, dense_score = _score_5m(simdir), _score_5m(dense)
    for side in ("long", "short"):
        assert dense_score[side] > sparse_score[side] + 0.05, (side, sparse_score, dense_score)


def test_cli_on_a_recorded_store_equals_the_truth_it_recorded(simdir, tmp_path, capsys):
    # The simulator's liquidations written through the recorder's store (Bybit-style: every
    # event): validate on the store gives the figures it gives on the truth file. A
    # recording gap then removes exactly the candles it touches.
    from liqrisk.tools.record.store import Liquidation, PairStore, event_key, store_root

    truth = _truth(simdir)
    t = truth["date"].to_numpy(np.int64)
    meta = json.loads((simdir / "binance" / "liqrisk_truth" / "meta.json").read_text())
    store = PairStore(store_root(tmp_path), "bybit", PAIR, latency_ms=500)
    store.connected(int(meta["start_ms"]))  # the recording covers the simulated span
    for when, side, price, usd in zip(t, truth["side"], truth["price"], truth["usd"], strict=True):
        qty = float(usd) / float(price)
        store.add(Liquidation(int(when), "bybit", PAIR, str(side), float(price), qty, float(usd),
                              event_key(int(when), str(side), float(price), qty)))
    store.flush(int(meta["end_ms"]))
    args = ["validate", "--datadir", str(simdir), "--pair", PAIR, "--timeframe", "1h", "--window", "1d"]

    def score(name, *extra):
        assert main([*args, *extra, "--json", str(tmp_path / name)]) == 0
        return json.loads((tmp_path / name).read_text())

    truth_fig = score("truth.json")
    rec_fig = score("rec.json", "--liquidations", str(tmp_path))
    assert "recorded, summed over bybit; 0 recording gap(s) skipped" in capsys.readouterr().out
    for side in ("long", "short"):
        assert rec_fig[side]["spearman"] == pytest.approx(truth_fig[side]["spearman"], abs=1e-9)
    hour = (int(np.median(t)) // 3_600_000 + 1) * 3_600_000 + 1_800_000  # mid-candle to mid-candle
    store.add_gap(hour, hour + 3_600_000, "disconnect")
    store.close(int(meta["end_ms"]))
    gapped = score("gap.json", "--liquidations", str(tmp_path))
    assert truth_fig["meta"]["n_candles"] - gapped["meta"]["n_candles"] == 2  # the two hours the gap touches
    assert main([*args, "--exchanges", "bybit"]) == 2  # --exchanges needs a recorded folder
