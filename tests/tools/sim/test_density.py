"""Market density (``cohorts_per_minute``): more, smaller cohorts at the same open interest."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liqrisk.cli import main
from liqrisk.errors import ConfigError
from liqrisk.tools.sim import cohort_layout as L
from liqrisk.tools.sim.pair_market import PairMarket
from liqrisk.tools.sim.specs import COHORTS_PER_MINUTE
from liqrisk.tools.sim.stream import LiveMarket
from liqrisk.tools.sim.writer import DAY_MS, parse_end, simulate_datadir

PAIR = "BTC/USDT:USDT"
DAYS = 2
END = "2025-03-31"
NOW = 1_767_225_600_000 + 5 * 3_600_000 + 17 * 60_000 + 23_456  # 2026-01-01 05:17:23.456 UTC


@pytest.fixture(scope="module")
def dirs(tmp_path_factory) -> dict[float, Path]:
    out = {}
    for rate in (3.0, 30.0):
        datadir = tmp_path_factory.mktemp(f"density{rate:g}") / "data"
        simulate_datadir(datadir, [PAIR], days=DAYS, seed=7, end=END, cohorts_per_minute=rate)
        out[rate] = datadir
    return out


def _truth(datadir: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(datadir / "binance" / "liqrisk_truth" / f"{name}.parquet")


def test_ten_times_the_density_ten_times_the_cohorts_same_open_interest(dirs):
    start_ms = parse_end(END) - DAYS * DAY_MS
    counts, liqs, oi = {}, {}, {}
    for rate, datadir in dirs.items():
        pos = _truth(datadir, "positions")
        counts[rate] = int((pos["open_ms"] >= start_ms).sum())  # opened inside the window
        liqs[rate] = _truth(datadir, "liquidations")
        frame = pd.read_feather(datadir / "binance" / "futures" / "BTC_USDT_USDT-5m-open_interest.feather")
        oi[rate] = float(frame["open_interest_value"].median())
    assert 8.0 < counts[30.0] / counts[3.0] < 12.5
    # The price paths differ, so event counts only roughly follow; each event is ~10x smaller.
    assert 4.0 < len(liqs[30.0]) / len(liqs[3.0]) < 20.0
    mean_usd = {rate: liq["usd"].mean() for rate, liq in liqs.items()}
    assert 0.05 < mean_usd[30.0] / mean_usd[3.0] < 0.2
    assert 0.7 < oi[30.0] / oi[3.0] < 1.4
    total = {rate: liq["usd"].sum() for rate, liq in liqs.items()}
    assert 0.2 < total[30.0] / total[3.0] < 5.0


def test_meta_records_the_density_and_live_continues_at_it(dirs):
    for rate, datadir in dirs.items():
        meta = json.loads((datadir / "binance" / "liqrisk_truth" / "meta.json").read_text())
        assert meta["cohorts_per_minute"] == rate
    # The saved state wins over a different density asked for (which is for fresh pairs).
    live = LiveMarket(dirs[30.0], seed=7, now_ms=NOW, cohorts_per_minute=3.0)
    market = live._p[PAIR].market
    assert market.cohorts_per_minute == 30.0
    m1 = live.frame(PAIR, "futures", "1m")
    assert DAYS * 1440 <= len(m1) < DAYS * 1440 + 8 * 60  # continued, not a fresh 7-day history
    # A pair without saved state gets the datadir's density.
    assert LiveMarket(dirs[30.0], seed=7, now_ms=NOW).cohorts_per_minute == 30.0


def test_state_round_trip_keeps_the_density():
    market = PairMarket(PAIR, 1, parse_end(END) - DAY_MS, cohorts_per_minute=12.5)
    market.advance(120)
    again = PairMarket.from_state(PAIR, market.state_dict())
    assert again.cohorts_per_minute == 12.5
    np.testing.assert_array_equal(again.prm, market.prm)
    assert again.max_opens == market.max_opens
    again.advance(60)
    assert again.open_interest > 0


def test_open_cap_grows_with_the_density():
    assert L.max_opens_per_minute(COHORTS_PER_MINUTE) == L.MAX_OPENS_PER_MINUTE  # the default keeps its cap
    for rate in (30.0, 100.0, 1000.0):
        peak = L.ACTIVITY_MAX * rate
        assert L.max_opens_per_minute(rate) >= peak + 6.0 * math.sqrt(peak)
    assert PairMarket(PAIR, 1, 0, cohorts_per_minute=100.0).max_opens > L.MAX_OPENS_PER_MINUTE


@pytest.mark.parametrize("bad", [0, 0.0, -3.0, math.nan, math.inf, 1e6, "3", None, True])
def test_bad_density_is_rejected_by_name(tmp_path, bad):
    with pytest.raises(ConfigError, match="cohorts_per_minute"):
        simulate_datadir(tmp_path / "data", [PAIR], days=1, cohorts_per_minute=bad)
    assert not (tmp_path / "data").exists()  # checked before anything is written
    with pytest.raises(ConfigError, match="cohorts_per_minute"):
        PairMarket(PAIR, 1, 0, cohorts_per_minute=bad)


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "5000"])
def test_bad_density_flag_exits_2_naming_it(tmp_path, capsys, value):
    code = main(["simulate", "--datadir", str(tmp_path / "data"), "--days", "1", "--pairs", PAIR,
                 "--no-progress", "--cohorts-per-minute", value])
    assert code == 2
    err = capsys.readouterr().err
    assert "liqrisk simulate:" in err and "--cohorts-per-minute" in err
    assert not (tmp_path / "data").exists()


def test_density_flag_reaches_the_simulation(tmp_path, capsys):
    code = main(["simulate", "--datadir", str(tmp_path), "--days", "1", "--pairs", "XRP/USDT:USDT",
                 "--seed", "5", "--no-progress", "--cohorts-per-minute", "7.5"])
    assert code == 0
    assert "7.5 cohorts/min" in capsys.readouterr().out
    meta = json.loads((tmp_path / "binance" / "liqrisk_truth" / "meta.json").read_text())
    assert meta["cohorts_per_minute"] == 7.5
    with np.load(tmp_path / "binance" / "liqrisk_truth" / "state" / "XRP_USDT_USDT.npz") as z:
        assert z["meta_prm"][L.P_LAMBDA] == 7.5


def test_cli_default_is_the_model_default():
    import argparse

    from liqrisk.cli.simulate import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args([]).cohorts_per_minute == COHORTS_PER_MINUTE
