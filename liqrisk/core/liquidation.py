"""Binance USD-M isolated-margin liquidation price.

Binance's formula (https://www.binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93)
for one isolated position, with wallet balance WB = initial margin = Q·EP/L:

    LP = (WB + cum − side·Q·EP) / (Q·MMR − side·Q)          side = +1 long, −1 short

which simplifies to

    long:  LP = (EP·(1 − 1/L) − cum/Q) / (1 − MMR)
    short: LP = (EP·(1 + 1/L) + cum/Q) / (1 + MMR)

with EP the entry price (quote per base unit), L the leverage (ratio), Q the size in
base units, MMR the bracket's maintenance-margin rate (fraction) and cum its
maintenance amount (quote). Writing Q = N/EP for a position of notional N (quote) makes
LP proportional to EP, which is why the engine can use one factor per (side, tier).

The naive ``EP·(1 ∓ 1/L)`` ignores the maintenance margin: at 100x on BTC it puts the
level 1.0% from entry instead of 0.60%.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from liqrisk.core.tiers import TierTable
from liqrisk.errors import ConfigError


def _side_sign(side: str) -> int:
    if side == "long":
        return 1
    if side == "short":
        return -1
    raise ConfigError(f"side={side!r} must be 'long' or 'short'.")


def liquidation_price(entry_price, leverage, *, side: str, maintenance_margin_rate, cum=0.0, notional=None):
    """Exact liquidation price (quote per base unit) of an isolated position.

    :param entry_price: entry price, quote per base unit (scalar or array).
    :param leverage: leverage as a ratio, e.g. ``10`` for 10x.
    :param side: ``"long"`` or ``"short"``.
    :param maintenance_margin_rate: the bracket's MMR as a fraction (0.004 = 0.4%).
    :param cum: the bracket's maintenance amount, quote currency.
    :param notional: position notional at entry, quote currency. Needed only if cum != 0.

    Example: BTC at 100,000 with 10x long, MMR 0.004, cum 0 → 90,361.45 (9.64% below).
    """
    sign = _side_sign(side)
    ep = np.asarray(entry_price, dtype=np.float64)
    lev = np.asarray(leverage, dtype=np.float64)
    mmr = np.asarray(maintenance_margin_rate, dtype=np.float64)
    if not np.all(np.isfinite(lev) & (lev > 0)):
        # 1/0 would return -inf (long) or +inf (short) as if it were a price.
        raise ConfigError(f"liquidation_price: leverage={leverage!r} must be a finite ratio > 0, e.g. 10 for 10x.")
    if not np.all((mmr >= 0) & (mmr < 1)):
        raise ConfigError(f"liquidation_price: maintenance_margin_rate={maintenance_margin_rate!r} must be a "
                          "fraction in [0, 1), e.g. 0.004 for 0.4%.")
    cum_over_q = 0.0
    if np.any(np.asarray(cum) != 0):
        if notional is None:
            raise ConfigError("liquidation_price: notional is required when cum != 0 (cum/Q = cum·EP/notional).")
        cum_over_q = np.asarray(cum, dtype=np.float64) * ep / np.asarray(notional, dtype=np.float64)
    lp = (ep * (1.0 - sign / lev) - sign * cum_over_q) / (1.0 - sign * mmr)
    return lp if lp.ndim else float(lp)


@lru_cache(maxsize=4096)
def liquidation_factor(leverage: float, *, side: str, table: TierTable, notional: float) -> tuple[float, float]:
    """Liquidation price as a multiple of entry price, for a position of ``notional``.

    The leverage is clamped to the bracket's maximum (an exchange refuses more), so an
    altcoin capped at 20x turns a 50x or 100x tier into 20x.

    :returns: ``(LP / EP, effective leverage)``.
    """
    bracket = table.bracket(notional)
    lev = min(float(leverage), bracket.max_leverage)
    factor = liquidation_price(
        1.0, lev, side=side, maintenance_margin_rate=bracket.maintenance_margin_rate,
        cum=bracket.cum, notional=notional,
    )
    if not np.isfinite(factor) or factor <= 0.0:
        raise ConfigError(
            f"leverage {leverage}x on {table.pair} gives no valid liquidation price "
            f"(MMR {bracket.maintenance_margin_rate}); use leverage_tiers above 1."
        )
    return float(factor), lev
