"""The rule layers: ``liqrisk.core.rules`` applied once per callback to the strategy's own
answer, with freqtrade's units (stops relative to ``current_rate``, divided by leverage).

Each function takes ``strat``, the ``LiqRiskMixin`` instance, for its thresholds
(``liqrisk_rule_params``), snapshots (``liqrisk_snapshot``), counters and settings.
Every rule reads the last candle *closed* at ``current_time``, never a later one.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime

from freqtrade.enums import CandleType, RunMode
from freqtrade.exceptions import OperationalException
from freqtrade.strategy import stoploss_from_absolute
from sqlalchemy.exc import SQLAlchemyError

import liqrisk
from liqrisk.adapter import ft_compat
from liqrisk.adapter.columns import oi_timeframe
from liqrisk.adapter.rule_inputs import to_ns
from liqrisk.core import rules

logger = logging.getLogger(__name__)

#: freqtrade exit reasons of a stop being hit.
STOP_EXITS = ("stop_loss", "trailing_stop_loss", "stoploss_on_exchange")


def trading(dp) -> bool:
    """True in dry-run and live (not in backtesting, hyperopt or analysis)."""
    return dp is not None and dp.runmode in (RunMode.DRY_RUN, RunMode.LIVE)


def informative(strat, pairs) -> list:
    """``pairs`` plus the OI, funding (and mark) candles of every whitelisted pair, for the
    candle types the exchange serves (futures only)."""
    pairs = list(pairs or [])
    dp = strat.dp
    if dp is None or not strat._liq_futures():
        return pairs
    try:
        whitelist = dp.current_whitelist()
    except OperationalException:  # documented: no pairlist provider (analysis tools, tests)
        return pairs
    tf = strat._liq_timeframe()
    wanted = [(CandleType.OPEN_INTEREST, oi_timeframe(tf)), (CandleType.FUNDING_RATE, ft_compat.funding_timeframe(dp))]
    if strat.liqrisk_use_mark:
        wanted.append((CandleType.MARK, tf))
    for ct, ctf in wanted:
        # Only ask for candle types the exchange serves: an unsupported one would fail
        # the refresh; without it the engine falls back and flags it.
        if not ft_compat.exchange_serves(dp, ct):
            continue
        for pair in whitelist:
            item = (pair, ctf, ct)
            if item not in pairs:
                pairs.append(item)
    return pairs


def entry(strat, ok: bool, pair: str, rate: float, current_time: datetime, side: str) -> bool:
    """The strategy's ``ok`` unless ``rules.entry_veto`` vetoes the entry at ``rate``."""
    if not ok:
        return False
    counters = strat._liq_counters
    counters.add("entries_checked")
    snap = strat.liqrisk_snapshot(pair, current_time)
    if snap is None:
        return True
    if rate and math.isfinite(rate) and rate > 0:
        snap = rules.Snapshot(close=float(rate), below=snap.below, above=snap.above, long_out_usd=snap.long_out_usd,
                              short_out_usd=snap.short_out_usd, funding=snap.funding, rsi=snap.rsi)
    reason = rules.entry_veto(snap, side, strat.liqrisk_rule_params())
    if reason is None:
        return True
    counters.veto(pair, current_time, side, reason)
    logger.log(logging.INFO if trading(strat.dp) else logging.DEBUG, "liqrisk: veto %s entry on %s at %s: %s",
               side, pair, current_time, reason)
    return False


def stop(strat, own, pair, trade, current_time, current_rate, after_fill) -> float | None:
    """The strategy's stop ``own`` (relative to ``current_rate``, None: no opinion), moved
    out of a cluster's danger zone by ``rules.place_stop`` when it lies in one.

    Fast path: freqtrade calls this for every candle of every open trade. place_stop
    changes nothing unless the natural stop lies in a danger zone of a large cluster, so
    that is tested first against the zones precomputed for the whole frame (one row
    look-up, a few float comparisons). Only a stop in a zone takes ``stop_full``.
    """
    inputs = strat._liq_inputs.get(pair)
    if inputs is not None:
        if not current_rate or not math.isfinite(current_rate):
            return own
        natural = natural_stop(strat, own, trade, current_rate, after_fill)
        if natural is None:
            return own
        # The zones depend on three thresholds; read them like liqrisk_rule_params does
        # (every call: hyperopt assigns new values between epochs).
        if strat._liq_own_params:
            p = strat.liqrisk_rule_params()
            key = (trade.is_short, p.min_share, p.band, p.stop_near)
        else:
            key = (trade.is_short, strat.liqrisk_min_share.value, strat.liqrisk_band.value,
                   strat.liqrisk_stop_near.value)
        # Not in a zone, or no usable row (unknown, stale): the full rule keeps ``own`` too.
        if not inputs.in_zone(to_ns(current_time), key, natural):
            return own
    return stop_full(strat, own, pair, trade, current_time, current_rate, after_fill)


def natural_stop(strat, own, trade, current_rate, after_fill) -> float | None:
    """The stop price the rule starts from: the strategy's own stop (``own`` is relative to
    ``current_rate``), else freqtrade's static stop on the initial placement and the
    current stop on later calls (the tighter of own and current there)."""
    if own is None and not after_fill:  # the common case, as rules.tighter(side, None, current)
        current = trade.stop_loss
        return current if current and math.isfinite(current) and current > 0 else None
    side = "short" if trade.is_short else "long"
    lev = float(trade.leverage or 1.0)
    own_price = None
    if own is not None and isinstance(own, (int, float)) and math.isfinite(own) and own != 0:
        own_price = rules.stop_price_from_ratio(current_rate, own, lev, side)
    if after_fill:
        if own_price is not None:
            return own_price
        return rules.stop_price_from_ratio(trade.open_rate, strat.stoploss, lev, side)
    return rules.tighter(side, own_price, trade.stop_loss if trade.stop_loss else None)


def stop_full(strat, own, pair, trade, current_time, current_rate, after_fill) -> float | None:
    """``stop`` without the shortcut: Snapshot, widest allowed stop, ``rules.place_stop``."""
    snap = strat.liqrisk_snapshot(pair, current_time)
    if snap is None or not current_rate or not math.isfinite(current_rate):
        return own
    p = strat.liqrisk_rule_params()
    side = "short" if trade.is_short else "long"
    lev = float(trade.leverage or 1.0)
    natural = natural_stop(strat, own, trade, current_rate, after_fill)
    static = rules.stop_price_from_ratio(trade.open_rate, strat.stoploss, lev, side)
    current = trade.stop_loss if trade.stop_loss else None
    if after_fill:
        # The initial stop may be placed anywhere within the static stop (freqtrade's widest).
        risk_bound = rules.stop_price_from_ratio(trade.open_rate, p.max_risk, lev, side)
        widest = rules.tighter(side, static, risk_bound)
    else:
        # Later calls only tighten: the current stop is the widest we can have.
        widest = rules.tighter(side, current, static)
    if natural is None:
        return own
    where = "below" if side == "long" else "above"
    ref = min(snap.close, current_rate) if side == "long" else max(snap.close, current_rate)
    counters = strat._liq_counters
    new, what = rules.place_stop(side, natural, ref, widest, snap.large(where, p.min_share), p)
    if what in (rules.STOP_KEPT, rules.STOP_UNAVOIDABLE):
        if what == rules.STOP_UNAVOIDABLE:
            logger.debug("liqrisk: %s stop %.6g unavoidably in a zone (ref %.6g, widest %.6g, clusters %s)",
                         pair, natural, ref, widest, snap.large(where, p.min_share))
            counters.bump("stop_moved", what)
        return own
    counters.bump("stop_moved", what)
    tid = getattr(trade, "id", None)
    if tid is not None:
        counters.stop_rule[tid] = what
        if trading(strat.dp):
            trade.set_custom_data("liqrisk_stop", what)
    value = stoploss_from_absolute(new, current_rate, is_short=trade.is_short, leverage=lev)
    return value if value > 0 else own


def leverage(strat, own, pair, current_time, current_rate, side) -> float:
    """The lower of the strategy's ``own`` leverage and ``rules.cap_leverage``'s cap."""
    snap = strat.liqrisk_snapshot(pair, current_time)
    if snap is None or not own or not current_rate:
        return own
    p = strat.liqrisk_rule_params()
    table = strat._liq_tiers.get(pair)
    if table is None:  # parsed once per pair (the tier file itself is read once per process)
        table = strat._liq_tiers[pair] = liqrisk.tier_table(pair, tiers_path=strat._liq_cfg.tiers_path)
    stake = strat.config.get("stake_amount")
    stake = float(stake) if isinstance(stake, (int, float)) else None

    def bracket(notional):
        b = table.bracket(notional)
        return b.maintenance_margin_rate, b.cum

    where = "below" if side == "long" else "above"
    lev, why = rules.cap_leverage(side, float(current_rate), float(own), stoploss=strat.stoploss,
                                  clusters=snap.large(where, p.min_share), bracket=bracket, stake=stake, p=p)
    if why is not None:
        strat._liq_counters.bump("leverage_capped", why)
        logger.debug("liqrisk: %s %s leverage %.4g -> %.4g (%s) at %.6g, clusters %s", pair, side, own, lev,
                     why, current_rate, snap.large(where, p.min_share))
    return min(float(own), lev)


def exit_(strat, ok: bool, trade, exit_reason: str) -> bool:
    """Counts a stop exit (and whether a rule had moved that stop); never changes ``ok``."""
    if ok and exit_reason in STOP_EXITS:
        counters = strat._liq_counters
        counters.add("stop_exits_total")
        rule = counters.stop_rule.get(getattr(trade, "id", None))
        if rule is None and trading(strat.dp):
            # After a restart the rule is only in the trade's persisted custom data (written
            # in dry-run/live only, see stop_full).
            try:
                rule = trade.get_custom_data("liqrisk_stop")
            except SQLAlchemyError as e:  # database unavailable: count the exit as not moved
                strat._liq_warn(("custom_data", trade.pair), "liqrisk: could not read the stop rule of %s "
                                "(%r); counting its stop exit as not moved by liqrisk.", trade.pair, e)
                rule = None
        if rule:
            counters.bump("stop_exit", rule)
    return ok
