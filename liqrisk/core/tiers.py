"""Maintenance-margin tiers (Binance "leverage brackets"), looked up by pair and notional.

The source of truth is the table freqtrade ships for Binance USD-M futures,
``freqtrade/exchange/binance_leverage_tiers.json`` (ccxt's ``fetch_leverage_tiers``
format). It is read as a data file: the core never imports freqtrade code. Other
exchanges pass their own tiers (freqtrade's ``leverage_tiers_<STAKE>.json`` layout,
``{"updated": ..., "data": {pair: [tiers]}}``, or the bare ``{pair: [tiers]}`` mapping).

Units: notional in quote currency (USDT for USDT-M), maintenance-margin rate (MMR) as
a fraction, ``cum`` (Binance's "maintenance amount") in quote currency.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from liqrisk._util import warn_once
from liqrisk.errors import ConfigError, DataError


@dataclass(frozen=True)
class MarginTier:
    """One bracket: positions with ``min_notional <= notional < max_notional``."""

    min_notional: float
    max_notional: float
    maintenance_margin_rate: float
    max_leverage: float
    cum: float


@dataclass(frozen=True)
class TierTable:
    """The brackets of one pair, sorted by notional."""

    pair: str
    tiers: tuple[MarginTier, ...]
    is_default: bool = False

    def __hash__(self) -> int:
        # Cached: liquidation_factor is memoised on the table, and hashing ten nested
        # dataclasses on every call cost more than the formula.
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash((self.pair, self.tiers, self.is_default))
            object.__setattr__(self, "_hash", h)
        return h

    def bracket(self, notional: float) -> MarginTier:
        """The bracket that holds a position of ``notional`` (quote currency)."""
        for tier in self.tiers:
            if notional < tier.max_notional:
                return tier
        return self.tiers[-1]


# Used for pairs that are in no table. This is Binance's most common bracket table for
# 75x pairs (as of freqtrade 2026.9's bundled JSON, e.g. 1000BONK/USDC:USDC), a middle
# ground between BTC's (0.4%, 150x) and new listings' (5%, 10x).
DEFAULT_TIERS: tuple[MarginTier, ...] = (
    MarginTier(0.0, 5_000.0, 0.01, 75.0, 0.0),
    MarginTier(5_000.0, 10_000.0, 0.015, 50.0, 25.0),
    MarginTier(10_000.0, 25_000.0, 0.02, 25.0, 75.0),
    MarginTier(25_000.0, 50_000.0, 0.025, 20.0, 200.0),
    MarginTier(50_000.0, 125_000.0, 0.05, 10.0, 1_450.0),
    MarginTier(125_000.0, 250_000.0, 0.1, 5.0, 7_700.0),
    MarginTier(250_000.0, 500_000.0, 0.125, 4.0, 13_950.0),
    MarginTier(500_000.0, 4_500_000.0, 0.1667, 3.0, 34_800.0),
    MarginTier(4_500_000.0, 7_500_000.0, 0.25, 2.0, 409_650.0),
    MarginTier(7_500_000.0, 12_500_000.0, 0.5, 1.0, 2_284_650.0),
)


@lru_cache(maxsize=1)
def freqtrade_binance_tiers_path() -> Path | None:
    """Path of freqtrade's bundled Binance tier table, or None if freqtrade is absent.

    ``find_spec`` locates the package without importing it.
    """
    spec = importlib.util.find_spec("freqtrade")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "exchange" / "binance_leverage_tiers.json"
    return path if path.is_file() else None


def parse_ccxt_tiers(pair: str, raw: Sequence[Mapping]) -> TierTable:
    """Build a TierTable from ccxt's leverage-tier dicts (as in freqtrade's JSON)."""
    tiers = []
    for i, item in enumerate(raw):
        try:
            info = item.get("info") or {}
            cum = info.get("cum", item.get("cum", 0.0))
            tiers.append(
                MarginTier(
                    min_notional=float(item["minNotional"]),
                    max_notional=float(item["maxNotional"]),
                    maintenance_margin_rate=float(item["maintenanceMarginRate"]),
                    max_leverage=float(item["maxLeverage"]),
                    cum=float(cum or 0.0),
                )
            )
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(
                f"leverage tier {i} of {pair!r} is malformed ({e!r}); expected ccxt's "
                "fields minNotional, maxNotional, maintenanceMarginRate, maxLeverage, info.cum."
            ) from e
    if not tiers:
        raise DataError(f"leverage tiers of {pair!r} are empty.")
    tiers.sort(key=lambda t: t.min_notional)
    return TierTable(pair=pair, tiers=tuple(tiers))


@lru_cache(maxsize=8)
def _load_tier_file(path: str) -> dict[str, list]:
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"tiers_path={path!r} cannot be read as JSON: {e}") from e
    if isinstance(raw, dict) and isinstance(raw.get("data"), dict):
        raw = raw["data"]
    if not isinstance(raw, dict):
        raise ConfigError(f"tiers_path={path!r} must hold a mapping of pair -> list of tiers.")
    return raw


def tier_table(pair: str, *, tiers_path: str | Path | None = None, tiers=None) -> TierTable:
    """Maintenance-margin tiers for ``pair``.

    Order of precedence: ``tiers`` (a list of ccxt tier dicts, or a TierTable) given
    directly; the JSON file at ``tiers_path``; freqtrade's bundled Binance table. A
    pair found nowhere gets ``DEFAULT_TIERS`` and a warning (logged once per pair).
    """
    if isinstance(tiers, TierTable):
        return tiers
    if tiers is not None:
        return parse_ccxt_tiers(pair, tiers)
    path = Path(tiers_path) if tiers_path is not None else freqtrade_binance_tiers_path()
    if path is not None:
        table = _load_tier_file(str(path))
        if pair in table:
            return parse_ccxt_tiers(pair, table[pair])
    warn_once(
        ("default_tiers", pair),
        "liqrisk: no maintenance-margin tiers for %s (looked in %s); using the generic "
        "default table (1%% MMR, 75x first bracket).",
        pair,
        path or "nothing: freqtrade is not installed and no tiers_path is set",
    )
    return TierTable(pair=pair, tiers=DEFAULT_TIERS, is_default=True)
