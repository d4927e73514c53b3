"""Trading rules on liqrisk features: entry veto, stop placement outside clusters, leverage cap.

Pure functions (numpy/pandas only, no freqtrade), so they can be unit-tested with hand-made
numbers and reused outside the bot. The freqtrade glue is ``liqrisk.adapter``.

Conventions
-----------
* Prices are quote currency per base unit (USDT). Distances and buffers are fractions of
  a price (0.01 = 1%). ``max_risk`` and ``stoploss`` are fractions of the *stake*, as in
  freqtrade: at leverage L a stake risk r is a price move of r / L.
* ``side`` is ``"long"`` or ``"short"``, the side of *our* trade.
* A long's dangerous clusters are **long-liquidation** clusters at/below the price (the
  ``liq_below_*`` columns): when price dips into them, forced selling cascades down
  through any stop placed there. A short's are short-liquidation clusters above
  (``liq_above_*``). Everything is mirrored for shorts.
* Time: every input is a value known at the close of the last closed candle (a row of
  ``compute_features``); the rules never look further.

A cluster is *large* when its USD is at least ``min_share`` of all outstanding USD on
that side in the window (a bucket is 0.25% of price wide; a typical nearest cluster
holds 2-6% of a side). A cluster's *band* is ``price·(1 ± band)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from liqrisk.core.liquidation import liquidation_price

#: Veto reasons, in the order they are checked. Their codes (index + 1) fill the
#: vectorised veto columns; 0 means no veto.
VETO_REASONS = ("in_band", "cluster_near", "funding_rsi")

#: What ``place_stop`` did.
STOP_KEPT = "kept"              # natural stop is outside every danger zone
STOP_BELOW = "below_cluster"    # moved beyond the cluster (long: below) with a buffer
STOP_ABOVE = "above_cluster"    # moved in front of the cluster: exit before the cascade
STOP_UNAVOIDABLE = "unavoidable"  # neither side possible (price is in the zone); left as is


@dataclass(frozen=True)
class RuleParams:
    """Thresholds of every rule (the mixin fills them from hyperopt parameters).

    :param min_share: a cluster is large if it holds ≥ this share of its side's outstanding USD.
    :param band: half-width of a cluster band, fraction of the cluster price.
    :param veto_dist: veto a long when a large long-liquidation cluster is within this
        distance below the entry (short: above).
    :param funding_veto: veto a long when funding ≥ this (fraction per 8h) and RSI ≥
        ``rsi_high``; a short when funding ≤ −this and RSI ≤ ``rsi_low``.
    :param stop_near: a stop within this distance *in front of* a band (long: above it)
        counts as inside: it is hunted on the way into the cluster.
    :param stop_buffer: gap between a moved stop and the band edge, fraction of price.
    :param max_risk: widest stake risk a stop moved past a cluster may take (fraction of
        stake, like freqtrade's ``stoploss``).
    :param lev_buffer: the trade's own liquidation price must lie beyond the stop and the
        nearest same-side cluster by this fraction of price.
    """

    min_share: float = 0.01
    band: float = 0.004
    veto_dist: float = 0.02
    funding_veto: float = 0.0003
    rsi_high: float = 75.0
    rsi_low: float = 25.0
    stop_near: float = 0.003
    stop_buffer: float = 0.003
    max_risk: float = 0.15
    lev_buffer: float = 0.01


@dataclass(frozen=True)
class Snapshot:
    """The liqrisk state of one pair at the close of one candle.

    :param close: last close, quote per base unit.
    :param below: ``(price, usd)`` long-liquidation clusters at/below the close.
    :param above: ``(price, usd)`` short-liquidation clusters at/above the close.
    :param long_out_usd: outstanding long levels, USD; ``short_out_usd`` likewise.
    :param funding: funding rate known at the close, fraction per 8h (NaN if unknown).
    :param rsi: RSI of the closes, 0..100 (NaN if unknown).
    """

    close: float
    below: tuple[tuple[float, float], ...] = ()
    above: tuple[tuple[float, float], ...] = ()
    long_out_usd: float = 0.0
    short_out_usd: float = 0.0
    funding: float = math.nan
    rsi: float = math.nan
    extra: Mapping = field(default_factory=dict)

    def large(self, where: str, min_share: float) -> list[float]:
        """Prices of the large clusters on one side (``"below"`` or ``"above"``)."""
        clusters, out = (self.below, self.long_out_usd) if where == "below" else (self.above, self.short_out_usd)
        if not out > 0 or not clusters:
            return []
        price = np.array([c[0] for c in clusters], np.float64)
        usd = np.array([c[1] for c in clusters], np.float64)
        return sorted(set(price[large_mask(price, usd, out, min_share)].tolist()))


def large_mask(price, usd, outstanding_usd, min_share: float) -> np.ndarray:
    """Which clusters are *large*, element-wise (arrays broadcast): the one definition of
    "large" that ``Snapshot.large``, ``entry_veto_codes`` and the adapter's precomputed stop
    zones share.

    A cluster at ``price`` (quote per base unit) holding ``usd`` is large when its side has
    outstanding USD (``outstanding_usd > 0``), the price is finite and > 0, and
    ``usd >= min_share * outstanding_usd``. Any NaN input makes it not large.

    Example: ``large_mask([99.0, 98.0], [30.0, 29.0], 1000.0, 0.03)`` is ``[True, False]``.
    """
    price = np.asarray(price, np.float64)
    usd = np.asarray(usd, np.float64)
    out = np.asarray(outstanding_usd, np.float64)
    with np.errstate(invalid="ignore"):
        return (out > 0) & np.isfinite(price) & (price > 0) & (usd >= min_share * out)


def snapshot_from_row(row: Mapping, window: str, *, funding_col: str = "liq_funding_rate",
                      rsi_col: str = "liq_rsi") -> Snapshot | None:
    """Build a Snapshot from one feature row (a dict or a pandas Series); None if unusable.

    Uses the nearest and strongest clusters of ``window`` on each side.
    """
    def get(key, default=math.nan):
        v = row.get(key, default)
        try:
            v = float(v)
        except (TypeError, ValueError):
            return default
        return v

    close = get("close")
    if not (math.isfinite(close) and close > 0):
        return None
    sides = {}
    for where in ("below", "above"):
        sides[where] = tuple(
            (get(f"liq_{where}_{kind}_price_{window}"), get(f"liq_{where}_{kind}_usd_{window}", 0.0))
            for kind in ("nearest", "strongest")
        )
    return Snapshot(
        close=close, below=sides["below"], above=sides["above"],
        long_out_usd=get(f"liq_long_outstanding_usd_{window}", 0.0),
        short_out_usd=get(f"liq_short_outstanding_usd_{window}", 0.0),
        funding=get(funding_col), rsi=get(rsi_col),
    )


# ---------------------------------------------------------------------------------------
# Entry veto


def entry_veto(snap: Snapshot, side: str, p: RuleParams) -> str | None:
    """Reason to reject an entry on ``side`` at ``snap.close``, or None.

    * ``in_band``: the price is inside the band of a large cluster on either side (it is
      crossing a cluster right now; the cascade decides the next move, not the signal).
    * ``cluster_near``: long: a large long-liquidation cluster within ``veto_dist`` below
      (a dip cascades through the stop); short: a short-liquidation cluster within
      ``veto_dist`` above.
    * ``funding_rsi``: long: funding ≥ ``funding_veto`` and RSI ≥ ``rsi_high`` (crowded
      and overbought); short: funding ≤ −``funding_veto`` and RSI ≤ ``rsi_low``.
    """
    _check_side(side)
    c = snap.close
    for where in ("below", "above"):
        for price in snap.large(where, p.min_share):
            if abs(c / price - 1.0) <= p.band:
                return "in_band"
    where = "below" if side == "long" else "above"
    for price in snap.large(where, p.min_share):
        if abs(price / c - 1.0) <= p.veto_dist:
            return "cluster_near"
    if math.isfinite(snap.funding) and math.isfinite(snap.rsi):
        if side == "long" and snap.funding >= p.funding_veto and snap.rsi >= p.rsi_high:
            return "funding_rsi"
        if side == "short" and snap.funding <= -p.funding_veto and snap.rsi <= p.rsi_low:
            return "funding_rsi"
    return None


def entry_veto_codes(frame: pd.DataFrame, side: str, p: RuleParams, window: str, *,
                     funding_col: str = "liq_funding_rate", rsi_col: str = "liq_rsi") -> np.ndarray:
    """``entry_veto`` for every row of a feature frame, as int8 codes (0 = none, else
    ``VETO_REASONS.index(reason) + 1``). Same rules, same order, vectorised."""
    _check_side(side)
    n = len(frame)

    def col(name, default=np.nan):
        return frame[name].to_numpy(np.float64) if name in frame.columns else np.full(n, default)

    close = col("close")
    codes = np.zeros(n, np.int8)
    in_band = np.zeros(n, bool)
    near = np.zeros(n, bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        for where, out_name in (("below", "long"), ("above", "short")):
            out = col(f"liq_{out_name}_outstanding_usd_{window}", 0.0)
            for kind in ("nearest", "strongest"):
                price = col(f"liq_{where}_{kind}_price_{window}")
                usd = col(f"liq_{where}_{kind}_usd_{window}", 0.0)
                large = large_mask(price, usd, out, p.min_share)
                in_band |= large & (np.abs(close / price - 1.0) <= p.band)
                if where == ("below" if side == "long" else "above"):
                    near |= large & (np.abs(price / close - 1.0) <= p.veto_dist)
        funding, rsi = col(funding_col), col(rsi_col)
        if side == "long":
            crowded = (funding >= p.funding_veto) & (rsi >= p.rsi_high)
        else:
            crowded = (funding <= -p.funding_veto) & (rsi <= p.rsi_low)
    valid = np.isfinite(close) & (close > 0)
    codes[valid & crowded] = 3
    codes[valid & near] = 2
    codes[valid & in_band] = 1
    return codes


# ---------------------------------------------------------------------------------------
# Stop placement


def zone_bounds(side: str, price, band: float, stop_near: float):
    """``(lo, hi)`` of one cluster's danger zone (see ``danger_zones``), before merging.

    Works element-wise on numpy arrays too: ``LiqRiskMixin`` precomputes the zones of a
    whole frame with it, so both paths share this arithmetic to the last bit.
    """
    lo, hi = price * (1 - band), price * (1 + band)
    if side == "long":
        hi = hi * (1 + stop_near)
    else:
        lo = lo * (1 - stop_near)
    return lo, hi


def danger_zones(side: str, clusters: Sequence[float], p: RuleParams) -> list[tuple[float, float]]:
    """Merged price intervals where a stop must not sit, sorted by price.

    Long: ``[price·(1−band), price·(1+band)·(1+stop_near)]`` (the band plus the strip just
    above it); short: mirrored, ``[price·(1−band)·(1−stop_near), price·(1+band)]``.
    """
    _check_side(side)
    zones = sorted(zone_bounds(side, price, p.band, p.stop_near) for price in clusters)
    merged: list[tuple[float, float]] = []
    for lo, hi in zones:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def place_stop(side: str, stop: float, ref_price: float, widest: float, clusters: Sequence[float],
               p: RuleParams) -> tuple[float, str]:
    """Move a stop price out of every cluster danger zone.

    :param side: our trade's side.
    :param stop: the natural stop price (the strategy's, or freqtrade's current one).
    :param ref_price: the price the stop must stay on the safe side of (last close; long:
        the stop must end below it).
    :param widest: the widest stop price allowed (long: the lowest): freqtrade's static
        stop, the max-risk bound, or the current stop when only tightening is allowed.
    :param clusters: prices of the large same-side clusters (long: long-liquidation
        clusters below the price).
    :returns: ``(stop price, what)``, ``what`` one of ``STOP_KEPT``, ``STOP_BELOW``,
        ``STOP_ABOVE``, ``STOP_UNAVOIDABLE``.

    Long: if the stop is in a zone, move it below the zone by ``stop_buffer`` when that is
    not below ``widest``; otherwise move it above the zone by ``stop_buffer`` (tighter: the
    trade exits before the cascade), as long as that stays below ``ref_price`` by the
    buffer. If neither fits, the price itself is in the zone and the stop stays
    (``STOP_UNAVOIDABLE``). Shorts mirrored.
    """
    _check_side(side)
    if not (math.isfinite(stop) and math.isfinite(ref_price) and stop > 0 and ref_price > 0):
        return stop, STOP_KEPT
    zones = danger_zones(side, [c for c in clusters if math.isfinite(c) and c > 0], p)
    sign = 1.0 if side == "long" else -1.0
    what = STOP_KEPT
    b = p.stop_buffer
    original = stop
    # Each pass moves the stop past one zone. Once it has moved in front of a zone
    # (tighter) it only moves further in front: going back down would re-enter that zone.
    # Zones are disjoint after merging, so the loop ends within len(zones) + 1 passes.
    forward = False
    for _ in range(len(zones) + 1):
        zone = next(((lo, hi) for lo, hi in zones if lo <= stop <= hi), None)
        if zone is None:
            return stop, what
        lo, hi = zone
        beyond = lo * (1 - b) if sign > 0 else hi * (1 + b)        # wider side of the zone
        front = hi * (1 + b) if sign > 0 else lo * (1 - b)         # tighter side
        if not forward and sign * (beyond - widest) >= 0:
            stop, what = beyond, STOP_BELOW
            continue
        if sign * (ref_price * (1 - sign * b) - front) > 0:
            stop, what, forward = front, STOP_ABOVE, True
            continue
        return original, STOP_UNAVOIDABLE
    return stop, what


def stop_price_from_ratio(open_rate: float, stoploss: float, leverage: float, side: str) -> float:
    """freqtrade's stop price for a stake-relative stop: ``open·(1 ∓ |stoploss|/leverage)``."""
    d = abs(stoploss) / max(leverage, 1e-12)
    return open_rate * (1 - d) if side == "long" else open_rate * (1 + d)


def tighter(side: str, *stops: float | None) -> float | None:
    """The tightest finite stop price (long: highest; short: lowest), or None."""
    vals = [s for s in stops if s is not None and math.isfinite(s) and s > 0]
    if not vals:
        return None
    return max(vals) if side == "long" else min(vals)


# ---------------------------------------------------------------------------------------
# Leverage cap


def cap_leverage(side: str, entry: float, proposed: float, *, stoploss: float, clusters: Sequence[float],
                 bracket, stake: float | None, p: RuleParams, step: float = 0.5) -> tuple[float, str | None]:
    """Highest leverage ≤ ``proposed`` whose liquidation price lies beyond both the widest
    stop and the nearest same-side large cluster, by ``lev_buffer``.

    :param entry: expected entry price (quote per base unit).
    :param proposed: leverage ratio proposed by the strategy.
    :param stoploss: freqtrade's static stoploss (fraction of stake, the widest stop).
    :param clusters: same-side large cluster prices (long: long-liquidation clusters below).
    :param bracket: callable ``notional (quote) -> (mmr fraction, cum quote)``.
    :param stake: stake in quote currency (picks the bracket via notional = stake·L);
        None uses the first bracket.
    :param step: leverage is lowered in steps of this ratio (then to 1).
    :returns: ``(leverage, reason)``, reason None when ``proposed`` was kept, else
        ``"stop"`` or ``"cluster"`` (what bound the proposed leverage).

    Example: BTC at 100,000, 20x long, stoploss −0.5 (2.5% stop at 20x), MMR 0.4%:
    LP 95,382 (4.6% below) is beyond the stop; a cluster at 96,000 makes it cap to 16.5x.
    """
    _check_side(side)
    sign = 1.0 if side == "long" else -1.0
    nearest = None
    for c in clusters:
        if math.isfinite(c) and c > 0 and sign * (entry - c) >= 0:
            nearest = c if nearest is None or sign * (c - nearest) > 0 else nearest
    reason = None
    lev = float(proposed)
    while True:
        notional = (stake or 0.0) * lev
        mmr, cum = bracket(notional)
        lp = liquidation_price(entry, lev, side=side, maintenance_margin_rate=mmr,
                               cum=cum if notional > 0 else 0.0, notional=notional if notional > 0 else None)
        stop = stop_price_from_ratio(entry, stoploss, lev, side)
        # "beyond x by buffer": long: lp ≤ x·(1 − buffer); short: lp ≥ x·(1 + buffer).
        bad_stop = sign * (lp - stop * (1 - sign * p.lev_buffer)) > 0
        bad_cluster = nearest is not None and sign * (lp - nearest * (1 - sign * p.lev_buffer)) > 0
        if not (bad_stop or bad_cluster) or lev <= 1.0:
            return max(lev, 1.0), reason
        reason = reason or ("stop" if bad_stop else "cluster")
        lev = max(1.0, math.floor((lev - 1e-9) / step) * step)


def _check_side(side: str) -> None:
    if side not in ("long", "short"):
        raise ValueError(f"side={side!r} must be 'long' or 'short'.")
