"""liqrisk.core.rules with hand-made numbers: veto fires and does not, stops never inside a band,
leverage cap, and the vectorised veto equals the scalar one."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from liqrisk.core import rules
from liqrisk.core.liquidation import liquidation_price
from liqrisk.core.rules import RuleParams, Snapshot

P = RuleParams()  # min_share 0.01, band 0.4%, veto_dist 2%, stop_near 0.3%, buffer 0.3%


def snap(close=100.0, below=(), above=(), long_out=1000.0, short_out=1000.0, funding=0.0001, rsi=50.0):
    return Snapshot(close=close, below=tuple(below), above=tuple(above), long_out_usd=long_out,
                    short_out_usd=short_out, funding=funding, rsi=rsi)


# -- entry veto ------------------------------------------------------------------------------


def test_long_vetoed_by_large_cluster_close_below():
    s = snap(below=[(98.5, 100.0)])  # 1.5% below, 10% of long outstanding
    assert rules.entry_veto(s, "long", P) == "cluster_near"
    # The same cluster is not a short's problem (short-liquidation clusters are above).
    assert rules.entry_veto(s, "short", P) is None


def test_short_vetoed_by_large_cluster_close_above():
    s = snap(above=[(101.5, 100.0)])
    assert rules.entry_veto(s, "short", P) == "cluster_near"
    assert rules.entry_veto(s, "long", P) is None


def test_no_veto_for_small_or_far_clusters():
    assert rules.entry_veto(snap(below=[(98.5, 5.0)]), "long", P) is None  # 0.5% of outstanding < 1%
    assert rules.entry_veto(snap(below=[(95.0, 500.0)]), "long", P) is None  # 5% away > veto_dist
    assert rules.entry_veto(snap(below=[(math.nan, 0.0)]), "long", P) is None  # no cluster
    assert rules.entry_veto(snap(below=[(98.5, 100.0)], long_out=0.0), "long", P) is None


def test_in_band_vetoes_both_sides():
    s = snap(above=[(100.3, 100.0)])  # price inside the ±0.4% band
    assert rules.entry_veto(s, "long", P) == "in_band"
    assert rules.entry_veto(s, "short", P) == "in_band"


def test_funding_rsi_veto():
    hot = snap(funding=0.0008, rsi=80.0)
    assert rules.entry_veto(hot, "long", P) == "funding_rsi"
    assert rules.entry_veto(hot, "short", P) is None
    assert rules.entry_veto(snap(funding=0.0008, rsi=60.0), "long", P) is None
    assert rules.entry_veto(snap(funding=-0.0008, rsi=20.0), "short", P) == "funding_rsi"
    assert rules.entry_veto(snap(funding=math.nan, rsi=90.0), "long", P) is None  # unknown funding: rule off


def test_vectorised_veto_matches_scalar():
    rng = np.random.default_rng(3)
    n = 400
    close = 100 * np.exp(rng.normal(0, 0.01, n))
    w = "1d"
    frame = pd.DataFrame({
        "close": close,
        f"liq_below_nearest_price_{w}": close * (1 - rng.uniform(0, 0.04, n)),
        f"liq_below_nearest_usd_{w}": rng.uniform(0, 100, n),
        f"liq_below_strongest_price_{w}": close * (1 - rng.uniform(0, 0.2, n)),
        f"liq_below_strongest_usd_{w}": rng.uniform(0, 200, n),
        f"liq_above_nearest_price_{w}": np.where(rng.random(n) < 0.2, np.nan, close * (1 + rng.uniform(0, 0.04, n))),
        f"liq_above_nearest_usd_{w}": rng.uniform(0, 100, n),
        f"liq_above_strongest_price_{w}": close * (1 + rng.uniform(0, 0.2, n)),
        f"liq_above_strongest_usd_{w}": rng.uniform(0, 200, n),
        f"liq_long_outstanding_usd_{w}": rng.uniform(500, 3000, n),
        f"liq_short_outstanding_usd_{w}": rng.uniform(500, 3000, n),
        "liq_funding_rate": rng.normal(0, 0.0005, n),
        "liq_rsi": rng.uniform(0, 100, n),
    })
    for side in ("long", "short"):
        codes = rules.entry_veto_codes(frame, side, P, w)
        for i, row in enumerate(frame.to_dict("records")):
            reason = rules.entry_veto(rules.snapshot_from_row(row, w), side, P)
            assert codes[i] == (0 if reason is None else rules.VETO_REASONS.index(reason) + 1), (side, i)
        assert 0 < (codes > 0).sum() < n


def _large_py(price: float, usd: float, out: float, min_share: float) -> bool:
    """The plain per-cluster reference of ``rules.large_mask``."""
    return out > 0 and math.isfinite(price) and price > 0 and usd >= min_share * out


@pytest.mark.parametrize("n", [0, 1, 7, 500])
def test_large_mask_matches_the_plain_rule(n):
    rng = np.random.default_rng(n)
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -1.0])
    price = np.where(rng.random(n) < 0.2, rng.choice(special, n), rng.uniform(50, 150, n))
    usd = np.where(rng.random(n) < 0.1, np.nan, rng.choice([0.0, 29.0, 30.0, 31.0, 500.0], n))
    out = np.where(rng.random(n) < 0.1, rng.choice([np.nan, 0.0, -5.0], n), 1000.0)
    got = rules.large_mask(price, usd, out, 0.03)
    assert got.dtype == bool and got.shape == (n,)
    want = [_large_py(*v, 0.03) for v in zip(price.tolist(), usd.tolist(), out.tolist(), strict=True)]
    assert got.tolist() == want


def test_large_mask_boundary_and_snapshot_large():
    # 30 of 1000 USD is exactly 3%: large (>=); 29.99 is not.
    assert rules.large_mask([99.0, 98.0], [30.0, 29.99], 1000.0, 0.03).tolist() == [True, False]
    snap = Snapshot(close=100.0, below=((99.0, 30.0), (99.0, 40.0), (math.nan, 500.0), (0.0, 500.0)),
                    above=((101.0, 500.0),), long_out_usd=1000.0, short_out_usd=0.0)
    assert snap.large("below", 0.03) == [99.0]  # de-duplicated, finite positive prices only
    assert snap.large("above", 0.03) == []      # no outstanding shorts: nothing is large
    assert Snapshot(close=100.0, long_out_usd=1000.0).large("below", 0.03) == []


# -- stop placement ------------------------------------------------------------------------


def test_long_stop_moved_below_cluster_within_risk():
    # Stop 98.0 sits in the band of a cluster at 98.1; the widest allowed stop is 96.
    stop, what = rules.place_stop("long", 98.0, 100.0, 96.0, [98.1], P)
    assert what == rules.STOP_BELOW
    assert stop == pytest.approx(98.1 * (1 - P.band) * (1 - P.stop_buffer))


def test_long_stop_moved_above_cluster_when_below_exceeds_risk():
    stop, what = rules.place_stop("long", 98.0, 100.0, 97.9, [98.1], P)
    assert what == rules.STOP_ABOVE
    assert stop == pytest.approx(98.1 * (1 + P.band) * (1 + P.stop_near) * (1 + P.stop_buffer))
    assert stop < 100.0


def test_stop_just_above_cluster_counts_as_inside():
    # 0.2% above the band's top: inside the stop_near strip, so it is moved.
    hi = 98.0 * (1 + P.band)
    _, what = rules.place_stop("long", hi * 1.002, 100.0, 90.0, [98.0], P)
    assert what == rules.STOP_BELOW
    _, what = rules.place_stop("long", hi * 1.01, 100.0, 90.0, [98.0], P)
    assert what == rules.STOP_KEPT


def test_short_stop_mirrored():
    stop, what = rules.place_stop("short", 102.0, 100.0, 104.0, [101.9], P)
    assert what == rules.STOP_BELOW and stop == pytest.approx(101.9 * (1 + P.band) * (1 + P.stop_buffer))
    stop, what = rules.place_stop("short", 102.0, 100.0, 102.1, [101.9], P)
    assert what == rules.STOP_ABOVE and 100.0 < stop < 101.9 * (1 - P.band)


def test_price_inside_zone_is_unavoidable():
    stop, what = rules.place_stop("long", 99.0, 99.5, 99.0, [99.2], P)
    assert (stop, what) == (99.0, rules.STOP_UNAVOIDABLE)


def _inside(stop, zones):
    return any(lo <= stop <= hi for lo, hi in zones)


@given(
    side=st.sampled_from(["long", "short"]),
    stop_d=st.floats(0.001, 0.08),
    widest_d=st.floats(0.0, 0.10),
    clusters=st.lists(st.floats(0.001, 0.12), max_size=5),
)
def test_stop_never_inside_a_band(side, stop_d, widest_d, clusters):
    sign = 1 if side == "long" else -1
    ref = 100.0
    stop = ref * (1 - sign * stop_d)
    widest = ref * (1 - sign * max(stop_d, widest_d))
    prices = [ref * (1 - sign * c) for c in clusters]
    new, what = rules.place_stop(side, stop, ref, widest, prices, P)
    zones = rules.danger_zones(side, prices, P)
    if what == rules.STOP_UNAVOIDABLE:
        # Only when the price itself is too close to a zone for a stop in front of it.
        assert new == stop
        return
    assert not _inside(new, zones)
    assert sign * (ref - new) > 0  # on the safe side of the price
    assert sign * (new - widest) >= -1e-9  # never wider than allowed
    if what == rules.STOP_KEPT:
        assert new == stop


# -- leverage cap ---------------------------------------------------------------------------


def _btc_bracket(_notional):
    return 0.004, 0.0


def test_leverage_kept_when_liquidation_is_far():
    lev, why = rules.cap_leverage("long", 100_000.0, 5.0, stoploss=-0.10, clusters=[97_000.0],
                                  bracket=_btc_bracket, stake=100.0, p=P)
    assert (lev, why) == (5.0, None)


def test_leverage_capped_by_cluster():
    lev, why = rules.cap_leverage("long", 100_000.0, 20.0, stoploss=-0.5, clusters=[96_000.0],
                                  bracket=_btc_bracket, stake=100.0, p=P)
    assert why == "cluster" and lev < 20.0
    lp = liquidation_price(100_000.0, lev, side="long", maintenance_margin_rate=0.004)
    assert lp <= 96_000.0 * (1 - P.lev_buffer)
    # Half a step more would not have been beyond the cluster.
    lp_more = liquidation_price(100_000.0, lev + 0.5, side="long", maintenance_margin_rate=0.004)
    assert lp_more > 96_000.0 * (1 - P.lev_buffer)


def test_leverage_capped_by_stop_short():
    # stoploss −0.95 at 20x is a 4.75% price stop; a 20x short liquidates ~4.6% above.
    lev, why = rules.cap_leverage("short", 100.0, 20.0, stoploss=-0.95, clusters=[],
                                  bracket=_btc_bracket, stake=None, p=P)
    assert why == "stop" and 1.0 <= lev < 20.0
    lp = liquidation_price(100.0, lev, side="short", maintenance_margin_rate=0.004)
    assert lp >= rules.stop_price_from_ratio(100.0, -0.95, lev, "short") * (1 + P.lev_buffer)


def test_tighter_and_stop_price():
    assert rules.tighter("long", 95.0, None, 97.0) == 97.0
    assert rules.tighter("short", 105.0, 103.0, math.nan) == 103.0
    assert rules.tighter("long", None) is None
    assert rules.stop_price_from_ratio(100.0, -0.10, 5.0, "long") == pytest.approx(98.0)
    assert rules.stop_price_from_ratio(100.0, -0.10, 5.0, "short") == pytest.approx(102.0)
    with pytest.raises(ValueError, match="side"):
        rules.place_stop("up", 1.0, 1.0, 1.0, [], P)
