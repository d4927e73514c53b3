"""Model configuration: every free choice of the liquidation model, validated.

Pass a ``LiqConfig`` or a plain dict to ``compute_features(config=...)``. Unknown keys
and bad values raise ``ConfigError`` naming the key. The defaults are documented in
the README ("Configuration keys").
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from liqrisk._util import timeframe_to_ns
from liqrisk.errors import ConfigError


@dataclass(frozen=True)
class LiqConfig:
    """Every free choice of the model. The defaults of the fitted keys (leverage and entry
    mix, split, funding, half-lives, turnover and the same-candle terms) are the set
    ``liqrisk calibrate`` fitted on real liquidations, daily and intraday together; the
    record of that fit, with its fit / test figures, is ``liqrisk/calibrated.json``."""

    #: Look-back windows with a hard cut-off: features at candle t use candles
    #: in (t − window, t] only. Freqtrade-style durations.
    windows: tuple[str, ...] = ("12h", "1d", "1w")
    #: Leverage tiers (ratios) that new notional is spread over.
    leverage_tiers: tuple[float, ...] = (5.0, 10.0, 25.0, 50.0, 100.0)
    #: Share of new notional per leverage tier; normalised to sum to 1.
    leverage_weights: tuple[float, ...] = (0.5405, 0.2703, 0.1081, 0.0541, 0.027)  # ∝ 1/L: equal margin
    #: Half-life of a 10x level (a duration, or None for no decay); tier L decays with
    #: half-life ``half_life_10x · 10 / L`` (higher leverage is held shorter). Used when
    #: ``tier_half_life`` is not given, so it follows any ``leverage_tiers``.
    half_life_10x: str | None = "120h"
    #: Explicit per-tier half-lives (durations, or None for no decay): one value for all
    #: tiers, or one per tier. Overrides ``half_life_10x``.
    tier_half_life: tuple[str | None, ...] | str | None = None
    #: Share of new notional entered at the candle's close, high and low.
    entry_weights: tuple[float, float, float] = (0.25, 0.375, 0.375)
    #: How strongly candle shape moves the long/short split, 0..1. At 1 a full-range
    #: bullish marubozu puts 100% of new OI on the long side (before clipping).
    split_sensitivity: float = 0.25
    #: Funding tilt: f_long += funding_weight·clip((rate − funding_neutral)/funding_scale, −1, 1).
    funding_weight: float = 0.2
    #: Funding rate (fraction per 8h) at which longs and shorts are balanced: Binance's
    #: interest component, 0.01%.
    funding_neutral: float = 0.0001
    funding_scale: float = 0.0005
    #: Share of each side's new notional that is leveraged and liquidatable (0..1].
    liquidatable_share: float = 0.1515
    #: Share of open interest closed and re-opened per day (fraction per day). Net OI
    #: change hides it; with it, each candle also closes this share of every level and
    #: seeds it anew at the candle's prices. Scaled by the candle's length; 0 = off.
    turnover_per_day: float = 0.3
    #: Same-candle liquidations: share of open interest re-opened per day (fraction per
    #: day) whose entry is the candle's open and whose liquidation the same candle's wick
    #: can reach. Net OI change misses this turnover, and levels seeded during a candle
    #: are only consumable from the next one. Scaled by the candle's length; 0 = off.
    intra_turnover: float = 0.1
    #: Spread of the same-candle liquidation distances: each tier's exact distance d_k is
    #: spread log-uniformly over [d_k / s, d_k · s] (the leverage and entries around a
    #: tier vary). 1 = exactly the tier distances (a step in the wick).
    intra_spread: float = 3.0
    #: Same-candle notional from OI's own range within the candle (fraction of OI high −
    #: low; needs ``open_interest_high`` / ``open_interest_low`` at the candles' timeframe):
    #: the same-candle term re-opens ``intra_oi_range · (OI_high − OI_low)`` on top of
    #: ``intra_turnover``, capped at the OI at the open. 0 = off.
    intra_oi_range: float = 4.0
    #: Same-candle path: share (0..1) of the same-candle notional opened at the candle's
    #: extreme against its side (shorts sold into the low, longs bought at the high)
    #: instead of at the open. Its adverse move is the retrace to the close, (close − low)
    #: / low for shorts and (high − close) / high for longs: a run-up (drawdown) the candle
    #: itself proves, since the close comes after both the low and the high. The rest
    #: stays at the open (open → high, open → low). Uses only candle t's own OHLC; 0 = off.
    intra_path: float = 0.5
    #: Without OI: new notional per candle = volume_proxy_share × volume × close (quote).
    volume_proxy_share: float = 0.02
    #: Representative position size (quote) that picks the maintenance-margin bracket.
    position_notional_usd: float = 2_000.0
    #: Price-bucket width of the cluster grid, as a fraction of price (log-spaced grid).
    bucket_width: float = 0.0025
    #: The *nearest* cluster is the closest bucket holding at least this share of the side's
    #: strongest bucket. 0.1 because the fitted book's strongest buckets are the far
    #: low-leverage levels (5x, about 19% away): at 0.5 the nearest cluster was that far
    #: band, and no rule could see the leveraged clusters within a few percent of price.
    #: Reading only: the estimate (``liq_*_est_usd``) does not depend on it.
    cluster_threshold: float = 0.1
    #: OI older than this (after its own candle closed) counts as missing. None = 3 OI candles.
    oi_max_staleness: str | None = None
    #: Funding older than this counts as missing (funding settles every 8h on Binance).
    funding_max_staleness: str = "12h"
    #: Mark-price candles are used for consumption only when their timeframe matches.
    use_mark: bool = True
    #: A JSON tier file (freqtrade's leverage_tiers_<STAKE>.json layout); None = freqtrade's Binance table.
    tiers_path: str | None = None
    #: Exchanges whose open interest is summed in USD per stamp, e.g. ["binance", "bybit",
    #: "okx"] (each exchange's files: ``<datadir>/../<exchange>/futures``); None = the
    #: data's own exchange only. Read by the adapter and the tools, which hand the engine
    #: the summed frame (``liqrisk.core.oi_sources``); the first exchange is bit 1 of
    #: ``liq_oi_sources``, the second bit 2, the third bit 4.
    oi_sources: tuple[str, ...] | None = None
    #: Take the long/short split from the archive's 5-minute taker buy/sell ratio when
    #: ``liqrisk download-oi`` left the pair's ``liqrisk_oi_metrics`` file (adapter, tools).
    use_archive_taker: bool = True

    def __post_init__(self) -> None:
        _validate(self)

    @classmethod
    def from_mapping(cls, mapping: Mapping | None) -> LiqConfig:
        """Build from a dict (for example the ``liqrisk`` section of a freqtrade config)."""
        if mapping is None:
            return cls()
        if isinstance(mapping, LiqConfig):
            return mapping
        if not isinstance(mapping, Mapping):
            raise ConfigError(f"liqrisk config must be a mapping, got {type(mapping).__name__}.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ConfigError(
                f"unknown liqrisk config key(s) {unknown}; known keys: {sorted(known)}."
            )
        values = dict(mapping)
        for key in ("windows", "leverage_tiers", "leverage_weights", "entry_weights", "oi_sources"):
            if key in values and isinstance(values[key], list):
                values[key] = tuple(values[key])
        if isinstance(values.get("tier_half_life"), list):
            values["tier_half_life"] = tuple(values["tier_half_life"])
        return cls(**values)

    def replace(self, **changes) -> LiqConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)

    # Derived values used by the engine -------------------------------------------------
    @property
    def window_ns(self) -> tuple[int, ...]:
        return tuple(timeframe_to_ns(w, key="windows") for w in self.windows)

    @property
    def normalized_leverage_weights(self) -> tuple[float, ...]:
        total = sum(self.leverage_weights)
        return tuple(w / total for w in self.leverage_weights)

    @property
    def normalized_entry_weights(self) -> tuple[float, float, float]:
        total = sum(self.entry_weights)
        return tuple(w / total for w in self.entry_weights)  # type: ignore[return-value]

    @property
    def half_life_ns(self) -> tuple[float, ...]:
        """Per-tier half-life in ns; ``inf`` means no decay."""
        hl = self.tier_half_life
        if hl is None and self.half_life_10x is not None:
            ten = float(timeframe_to_ns(self.half_life_10x, key="half_life_10x"))
            return tuple(ten * 10.0 / float(lev) for lev in self.leverage_tiers)
        if hl is None or isinstance(hl, str):
            hl = (hl,) * len(self.leverage_tiers)
        return tuple(
            math.inf if h is None else float(timeframe_to_ns(h, key="tier_half_life")) for h in hl
        )


def _finite(key: str, value, *, low=None, high=None, low_open=False) -> None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}={value!r} must be a number.") from None
    if not math.isfinite(v):
        raise ConfigError(f"{key}={value!r} must be finite.")
    if low is not None and (v < low or (low_open and v == low)):
        raise ConfigError(f"{key}={value!r} must be {'>' if low_open else '>='} {low}.")
    if high is not None and v > high:
        raise ConfigError(f"{key}={value!r} must be <= {high}.")


def _validate(cfg: LiqConfig) -> None:
    if isinstance(cfg.windows, str) or not cfg.windows:
        raise ConfigError(f"windows={cfg.windows!r} must be a non-empty list such as ['12h', '1d', '1w'].")
    if len(set(cfg.windows)) != len(cfg.windows):
        raise ConfigError(f"windows={cfg.windows!r} has duplicates.")
    cfg.window_ns  # noqa: B018 - parses and raises ConfigError naming the key
    if not cfg.leverage_tiers:
        raise ConfigError("leverage_tiers must not be empty, e.g. [5, 10, 25, 50, 100].")
    for lev in cfg.leverage_tiers:
        _finite("leverage_tiers", lev, low=1.0, low_open=True)
    if len(cfg.leverage_weights) != len(cfg.leverage_tiers):
        raise ConfigError(
            f"leverage_weights has {len(cfg.leverage_weights)} values but leverage_tiers has "
            f"{len(cfg.leverage_tiers)}; give one weight per tier."
        )
    for w in cfg.leverage_weights:
        _finite("leverage_weights", w, low=0.0)
    if sum(cfg.leverage_weights) <= 0:
        raise ConfigError("leverage_weights must not all be zero.")
    if len(cfg.entry_weights) != 3:
        raise ConfigError(f"entry_weights={cfg.entry_weights!r} needs three values: close, high, low.")
    for w in cfg.entry_weights:
        _finite("entry_weights", w, low=0.0)
    if sum(cfg.entry_weights) <= 0:
        raise ConfigError("entry_weights must not all be zero.")
    hl = cfg.tier_half_life
    if hl is not None and not isinstance(hl, str) and len(hl) != len(cfg.leverage_tiers):
        raise ConfigError(
            f"tier_half_life has {len(hl)} values but leverage_tiers has {len(cfg.leverage_tiers)}; "
            "give one duration for all tiers or one per tier."
        )
    cfg.half_life_ns  # noqa: B018
    _finite("split_sensitivity", cfg.split_sensitivity, low=0.0, high=1.0)
    _finite("funding_weight", cfg.funding_weight, low=0.0, high=0.5)
    _finite("funding_neutral", cfg.funding_neutral)
    _finite("funding_scale", cfg.funding_scale, low=0.0, low_open=True)
    _finite("liquidatable_share", cfg.liquidatable_share, low=0.0, high=1.0, low_open=True)
    _finite("volume_proxy_share", cfg.volume_proxy_share, low=0.0)
    _finite("intra_turnover", cfg.intra_turnover, low=0.0, high=100.0)
    _finite("turnover_per_day", cfg.turnover_per_day, low=0.0, high=100.0)
    _finite("intra_spread", cfg.intra_spread, low=1.0, high=100.0)
    _finite("intra_oi_range", cfg.intra_oi_range, low=0.0, high=100.0)
    _finite("intra_path", cfg.intra_path, low=0.0, high=1.0)
    _finite("position_notional_usd", cfg.position_notional_usd, low=0.0, low_open=True)
    _finite("bucket_width", cfg.bucket_width, low=1e-5, high=0.1)
    _finite("cluster_threshold", cfg.cluster_threshold, low=0.0, high=1.0, low_open=True)
    if cfg.oi_max_staleness is not None:
        timeframe_to_ns(cfg.oi_max_staleness, key="oi_max_staleness")
    timeframe_to_ns(cfg.funding_max_staleness, key="funding_max_staleness")
    _check_oi_sources(cfg.oi_sources)
    if not isinstance(cfg.use_mark, bool | np.bool_):
        # "no" or "false" from a config file is truthy: it would silently mean True.
        raise ConfigError(f"use_mark={cfg.use_mark!r} must be true or false (a boolean, not a string).")
    if not isinstance(cfg.use_archive_taker, bool | np.bool_):
        raise ConfigError(f"use_archive_taker={cfg.use_archive_taker!r} must be true or false (a boolean).")


def _check_oi_sources(sources) -> None:
    if sources is None:
        return
    example = 'e.g. ["binance", "bybit", "okx"]'
    if isinstance(sources, str) or not isinstance(sources, tuple | list) or not sources:
        raise ConfigError(f"oi_sources={sources!r} must be a non-empty list of exchange ids, {example}, or null.")
    for name in sources:
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,40}", name):
            raise ConfigError(f"oi_sources: {name!r} is not an exchange id (the datadir folder name: lower-case "
                              f"letters, digits and _), {example}.")
    if len(set(sources)) != len(sources):
        raise ConfigError(f"oi_sources={list(sources)!r} names an exchange twice.")
