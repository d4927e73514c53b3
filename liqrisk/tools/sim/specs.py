"""Per-pair market parameters and the leverage / liquidation-factor tables.

Units: prices in quote currency (USDT) per base unit; notionals in USD (= USDT);
volatilities as annualised fractions; funding caps as fractions per 8 h.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass

import numpy as np

from liqrisk.core.liquidation import liquidation_factor
from liqrisk.core.tiers import tier_table
from liqrisk.errors import ConfigError
from liqrisk.tools.sim import cohort_layout as L

MINUTES_PER_YEAR = 525_600

# ccxt's symbol of a linear perpetual: BASE/QUOTE:SETTLE.
PAIR_RE = re.compile(r"^([A-Z0-9]{1,20})/([A-Z0-9]{2,10}):([A-Z0-9]{2,10})$")


@dataclass(frozen=True)
class PairSpec:
    """What makes one simulated market different from another."""

    pair: str
    start_price: float  # quote per base unit at the start of the warm-up
    annual_vol: float  # target annualised volatility of the fundamental price (fraction)
    open_interest_usd: float  # steady-state open interest of the leveraged cohorts, USD
    tick: float  # futures price tick, quote
    funding_cap: float  # |funding rate| cap per 8 h (fraction)


# Rough 2024-25 Binance USD-M figures; what matters is that scales and vols differ.
KNOWN_SPECS: dict[str, tuple[float, float, float, float, float]] = {
    "BTC": (85_000.0, 0.50, 7.0e9, 0.1, 0.003),
    "ETH": (3_000.0, 0.65, 4.0e9, 0.01, 0.003),
    "SOL": (150.0, 0.85, 1.5e9, 0.01, 0.0075),
    "XRP": (0.60, 0.80, 8.0e8, 0.0001, 0.0075),
    "BNB": (600.0, 0.55, 6.0e8, 0.01, 0.0075),
    "DOGE": (0.15, 0.95, 1.0e9, 0.00001, 0.0075),
    "ADA": (0.45, 0.85, 4.0e8, 0.0001, 0.0075),
}


def parse_pair(pair: str) -> tuple[str, str, str]:
    """Split a ccxt futures symbol ``BASE/QUOTE:SETTLE``; ConfigError otherwise."""
    match = PAIR_RE.match(str(pair))
    if not match:
        raise ConfigError(
            f"pair {pair!r} is not a ccxt futures symbol; use BASE/QUOTE:SETTLE, e.g. 'BTC/USDT:USDT'."
        )
    return match.group(1), match.group(2), match.group(3)


def pair_spec(pair: str) -> PairSpec:
    """Parameters of ``pair``: a table for the majors, a deterministic guess otherwise."""
    base, _quote, _settle = parse_pair(pair)
    if base in KNOWN_SPECS:
        price, vol, oi, tick, cap = KNOWN_SPECS[base]
        return PairSpec(pair, price, vol, oi, tick, cap)
    # An unknown coin gets a price between 0.01 and 100 and a high vol, fixed by its name.
    h = zlib.crc32(base.encode())
    price = 10.0 ** (-2.0 + 4.0 * (h % 10_000) / 10_000.0)
    tick = 10.0 ** (math.floor(math.log10(price)) - 4)
    return PairSpec(pair, price, 0.9 + 0.3 * ((h >> 16) % 100) / 100.0, 3.0e8, tick, 0.0075)


# Leverages traders pick (ratios) and how often: most mass at 5-25x, a tail at 50-125x.
LEVERAGES = np.array([2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 75, 100, 125], dtype=np.float64)
LEVERAGE_WEIGHTS = np.array(
    [4, 5, 3, 11, 3, 4, 16, 4, 9, 13, 8, 3, 2, 5, 2.5, 2.5, 0.8], dtype=np.float64
)
# Notional of one trader's position (USD), which fixes the maintenance bracket: many
# small accounts, a few whales (weight ∝ size^-0.35).
POSITION_SIZES = np.geomspace(500.0, 5.0e6, 15)
POSITION_SIZE_WEIGHTS = POSITION_SIZES ** -0.35


@dataclass(frozen=True)
class LeverageTables:
    """Liquidation factors of every (side, leverage, position size) a cohort can have.

    ``factor[side, i, j]`` is LP / entry for side 0 = long, 1 = short, nominal leverage
    ``nominal[i]`` and per-trader notional ``sizes[j]`` (USD); ``effective[side, i, j]``
    is the leverage after the bracket's cap; ``mmr[j]`` / ``cum[j]`` the bracket's
    maintenance-margin rate (fraction) and amount (USD).
    """

    nominal: np.ndarray
    sizes: np.ndarray
    factor: np.ndarray
    effective: np.ndarray
    mmr: np.ndarray
    cum: np.ndarray
    lev_cdf: np.ndarray
    size_cdf: np.ndarray


def leverage_tables(pair: str) -> LeverageTables:
    """Tables from Binance's brackets (``tier_table``) and ``liquidation_factor``."""
    table = tier_table(pair)
    # Sizes whose bracket allows no valid liquidation price at 2x are dropped.
    sizes = []
    for size in POSITION_SIZES:
        try:
            liquidation_factor(float(LEVERAGES[0]), side="long", table=table, notional=float(size))
        except ConfigError:
            continue
        sizes.append(size)
    sizes_arr = np.array(sizes, dtype=np.float64)
    keep = np.isin(POSITION_SIZES, sizes_arr)
    factor = np.empty((2, LEVERAGES.size, sizes_arr.size))
    effective = np.empty_like(factor)
    for s_i, side in enumerate(("long", "short")):
        for l_i, lev in enumerate(LEVERAGES):
            for z_i, size in enumerate(sizes_arr):
                factor[s_i, l_i, z_i], effective[s_i, l_i, z_i] = liquidation_factor(
                    float(lev), side=side, table=table, notional=float(size)
                )
    brackets = [table.bracket(float(size)) for size in sizes_arr]
    return LeverageTables(
        nominal=LEVERAGES.copy(),
        sizes=sizes_arr,
        factor=factor,
        effective=effective,
        mmr=np.array([b.maintenance_margin_rate for b in brackets]),
        cum=np.array([b.cum for b in brackets]),
        lev_cdf=np.cumsum(LEVERAGE_WEIGHTS),
        size_cdf=np.cumsum(POSITION_SIZE_WEIGHTS[keep]),
    )


# Model constants shared by every pair (per-minute unless said otherwise).
# Market density: mean cohort openings per minute at average volatility. The default; a
# run may choose another (``liqrisk simulate --cohorts-per-minute``). Open interest does
# not depend on it (the cohort notional scales as 1 / rate), but the number of cohorts,
# liquidation events, memory and the size of positions.parquet grow with it.
COHORTS_PER_MINUTE = 3.0
# Highest density accepted: at 1000/min one pair-day already holds ~1.4 M cohorts.
MAX_COHORTS_PER_MINUTE = 1000.0
SCALP_SHARE = 0.35
SCALP_LIFE_MIN = 45.0
SWING_LIFE_MIN = 2400.0
LIFE_LEVERAGE_EXPONENT = 1.0
STOP_SHARE = 0.5
STOP_PLACEMENT = (0.4, 0.9)  # a stop sits this share (uniform) of the way from entry to LP
DEPTH_PER_OI = 4.0  # USD of net selling that moves log price by 1, per USD of OI
# Share of the target vol given to the fundamental shocks: cascades and order flow add
# the rest (measured: realised 1m vol ≈ target at 90 days).
VOL_SCALE = 0.85
BUCKET_WIDTH = math.log(1.0025)  # truth price buckets: 0.25% wide, log-spaced


def check_cohorts_per_minute(value, name: str = "cohorts_per_minute") -> float:
    """``value`` as a float density, or ConfigError naming ``name`` (the flag or keyword)."""
    try:
        rate = math.nan if isinstance(value, bool | str) else float(value)
    except (TypeError, ValueError):
        rate = math.nan
    if not (math.isfinite(rate) and 0.0 < rate <= MAX_COHORTS_PER_MINUTE):
        raise ConfigError(
            f"{name}={value!r} must be a number > 0 and <= {MAX_COHORTS_PER_MINUTE:g} (mean cohort openings "
            f"per minute; default {COHORTS_PER_MINUTE:g})."
        )
    return rate


def mean_cohort_life_minutes() -> float:
    """Mean lifetime of a cohort opened now (minutes): scalpers and swing traders, the
    latter ∝ (10 / leverage) ** LIFE_LEVERAGE_EXPONENT. 1440 over it is the market's
    turnover per day (share of OI closed and re-opened)."""
    lev_w = LEVERAGE_WEIGHTS / LEVERAGE_WEIGHTS.sum()
    return SCALP_SHARE * SCALP_LIFE_MIN + (1 - SCALP_SHARE) * SWING_LIFE_MIN * float(
        np.sum(lev_w * (10.0 / LEVERAGES) ** LIFE_LEVERAGE_EXPONENT)
    )


def model_params(spec: PairSpec, tables: LeverageTables, *,
                 cohorts_per_minute: float = COHORTS_PER_MINUTE) -> np.ndarray:
    """The kernel's float parameter vector for one pair.

    :param cohorts_per_minute: market density, mean cohort openings per minute (> 0);
        the mean cohort notional is OI / (rate · mean lifetime), so OI does not move.
    """
    rate = check_cohorts_per_minute(cohorts_per_minute)
    prm = np.zeros(L.N_PRM)
    prm[L.P_SIG_BAR] = VOL_SCALE * spec.annual_vol / math.sqrt(MINUTES_PER_YEAR)
    prm[L.P_G_ALPHA] = 0.06
    prm[L.P_G_BETA] = 0.92
    prm[L.P_REG_PHI] = math.exp(-math.log(2.0) / (3 * 1440))
    prm[L.P_REG_SD] = 0.35
    prm[L.P_LAMBDA] = rate
    prm[L.P_COH_USD] = spec.open_interest_usd / (rate * mean_cohort_life_minutes())
    prm[L.P_COH_SIG] = 1.0
    prm[L.P_DEPTH] = DEPTH_PER_OI * spec.open_interest_usd
    prm[L.P_PERM] = 0.4
    prm[L.P_J_DECAY] = math.exp(-math.log(2.0) / (20.0 * L.SUBSTEPS))
    prm[L.P_FLOW_IMPACT] = 0.15
    prm[L.P_PREM_THETA] = 1.0 / 30.0
    prm[L.P_PREM_SD] = 0.00003
    prm[L.P_PREM_K] = 0.004
    prm[L.P_PREM_EMA] = 1.0 - math.exp(-1.0 / (5.0 * L.SUBSTEPS))
    prm[L.P_MICRO_SD] = 0.00008
    prm[L.P_INTEREST] = 0.0001
    prm[L.P_FUND_CAP] = spec.funding_cap
    prm[L.P_LONG_BIAS] = 0.03
    prm[L.P_MOM_W] = 0.2
    prm[L.P_FUND_W] = 0.1
    prm[L.P_SCALP_P] = SCALP_SHARE
    prm[L.P_SCALP_LIFE] = SCALP_LIFE_MIN
    prm[L.P_SWING_LIFE] = SWING_LIFE_MIN
    prm[L.P_LIFE_LEV_EXP] = LIFE_LEVERAGE_EXPONENT
    prm[L.P_BG_TURN] = 0.0012
    prm[L.P_BUCKET_W] = BUCKET_WIDTH
    prm[L.P_RET_CAP] = 12.0
    prm[L.P_SEASON] = 0.2
    prm[L.P_STOP_P] = STOP_SHARE
    prm[L.P_STOP_LO], prm[L.P_STOP_HI] = STOP_PLACEMENT
    return prm


def pair_seed(seed: int, pair: str) -> np.ndarray:
    """Four xoshiro256** words for ``pair`` under ``seed`` (splitmix64 expansion)."""
    mask = (1 << 64) - 1
    z = (int(seed) * 0x9E3779B97F4A7C15 + zlib.crc32(pair.encode())) & mask
    words = []
    for _ in range(4):
        z = (z + 0x9E3779B97F4A7C15) & mask
        w = z
        w = ((w ^ (w >> 30)) * 0xBF58476D1CE4E5B9) & mask
        w = ((w ^ (w >> 27)) * 0x94D049BB133111EB) & mask
        words.append(w ^ (w >> 31))
    return np.array(words, dtype=np.uint64)
