"""The exact Binance USD-M liquidation formula and the tier lookup, against hand-computed values."""

import json
import logging

import numpy as np
import pytest

from liqrisk import ConfigError, DataError, liquidation_factor, liquidation_price, tier_table
from liqrisk.core.tiers import DEFAULT_TIERS, freqtrade_binance_tiers_path


def binance_formula(wb, cum, side, q, ep, mmr):
    """Binance's published form: LP = (WB + cumB − side·Q·EP) / (Q·MMR − side·Q)."""
    return (wb + cum - side * q * ep) / (q * mmr - side * q)


def test_btc_hand_computed_distances():
    # BTC bracket 1: MMR 0.4%, cum 0. Long 10x at 100,000: 90,000 / 0.996 = 90,361.45.
    lp10 = liquidation_price(100_000, 10, side="long", maintenance_margin_rate=0.004)
    assert lp10 == pytest.approx(90_361.4457831, rel=1e-12)
    assert 1 - lp10 / 100_000 == pytest.approx(0.0964, abs=5e-5)
    lp100 = liquidation_price(100_000, 100, side="long", maintenance_margin_rate=0.004)
    assert 1 - lp100 / 100_000 == pytest.approx(0.0060, abs=5e-5)
    # The naive EP·(1 − 1/L) is off by 0.4 percentage points of price at 100x.
    assert (lp100 - 99_000) / 100_000 == pytest.approx(0.00398, abs=5e-5)


@pytest.mark.parametrize("side,sign", [("long", 1), ("short", -1)])
@pytest.mark.parametrize("lev,mmr,cum,notional", [(10, 0.004, 0.0, 2_000), (20, 0.005, 300.0, 500_000), (3, 0.1667, 34_800, 600_000)])
def test_matches_binance_published_form(side, sign, lev, mmr, cum, notional):
    ep = 64_321.5
    q = notional / ep
    expected = binance_formula(q * ep / lev, cum, sign, q, ep, mmr)
    got = liquidation_price(ep, lev, side=side, maintenance_margin_rate=mmr, cum=cum, notional=notional)
    assert got == pytest.approx(expected, rel=1e-12)


def test_short_above_long_below_and_vectorised():
    ep = np.array([1.0, 50.0, 70_000.0])
    longs = liquidation_price(ep, 25, side="long", maintenance_margin_rate=0.01)
    shorts = liquidation_price(ep, 25, side="short", maintenance_margin_rate=0.01)
    assert np.all(longs < ep) and np.all(shorts > ep)
    assert shorts / ep == pytest.approx((1 + 1 / 25) / 1.01)


def test_cum_requires_notional_and_bad_side():
    with pytest.raises(ConfigError, match="notional"):
        liquidation_price(100.0, 10, side="long", maintenance_margin_rate=0.01, cum=5.0)
    with pytest.raises(ConfigError, match="side"):
        liquidation_price(100.0, 10, side="up", maintenance_margin_rate=0.01)


@pytest.mark.skipif(freqtrade_binance_tiers_path() is None, reason="freqtrade is not installed")
def test_tier_lookup_from_freqtrades_table():
    btc = tier_table("BTC/USDT:USDT")
    assert not btc.is_default
    assert btc.bracket(2_000).maintenance_margin_rate == 0.004
    # Brackets are [min, max): 300,000 belongs to the second one, with its cum.
    assert btc.bracket(300_000).maintenance_margin_rate == 0.005
    assert btc.bracket(300_000).cum == 300.0
    assert btc.bracket(1e12) is btc.tiers[-1]


@pytest.mark.skipif(freqtrade_binance_tiers_path() is None, reason="freqtrade is not installed")
def test_leverage_clamped_to_bracket_max():
    with open(freqtrade_binance_tiers_path()) as fh:
        raw = json.load(fh)
    # Find a pair whose first bracket allows at most 20x.
    pair = next(p for p, tiers in raw.items() if tiers[0]["maxLeverage"] <= 20 and p.endswith("/USDT:USDT"))
    table = tier_table(pair)
    f100, lev = liquidation_factor(100, side="long", table=table, notional=100)
    assert lev == table.tiers[0].max_leverage
    assert f100 == pytest.approx(liquidation_factor(lev, side="long", table=table, notional=100)[0])


def test_unknown_pair_gets_default_and_one_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="liqrisk"):
        t1 = tier_table("NOPE/USDT:USDT")
        t2 = tier_table("NOPE/USDT:USDT")
    assert t1.is_default and t2.tiers == DEFAULT_TIERS
    assert sum("NOPE/USDT:USDT" in r.message for r in caplog.records) == 1


def test_user_tier_file_in_freqtrade_layout(tmp_path):
    path = tmp_path / "leverage_tiers_USDT.json"
    tiers = [{"minNotional": 0, "maxNotional": 1000, "maintenanceMarginRate": 0.02, "maxLeverage": 20, "info": {"cum": 0}},
             {"minNotional": 1000, "maxNotional": 1e9, "maintenanceMarginRate": 0.05, "maxLeverage": 10, "info": {"cum": 30}}]
    path.write_text(json.dumps({"updated": "2026-11-01T00:00:00Z", "data": {"FOO/USDT:USDT": tiers}}))
    table = tier_table("FOO/USDT:USDT", tiers_path=path)
    assert table.bracket(5_000).cum == 30 and table.bracket(5_000).max_leverage == 10
    with pytest.raises(DataError, match="FOO/USDT:USDT"):
        tier_table("FOO/USDT:USDT", tiers=[{"minNotional": 0}])
