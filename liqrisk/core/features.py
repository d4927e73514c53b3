"""``compute_features``: freqtrade candles in, ``liq_*`` feature columns out.

The time-alignment contract (what each row may know) is stated in ``liqrisk.core.align``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from liqrisk._util import candle_timeframe_ns, timeframe_to_ns
from liqrisk.config import LiqConfig
from liqrisk.core.align import prepare
from liqrisk.core.assemble import assemble_features, assemble_ledger
from liqrisk.core.engine import RawResult, release_free_memory, run_fast
from liqrisk.core.model import ModelInputs


@dataclass
class EngineResult:
    """Features plus the engine's bookkeeping (for tests, validation and pictures)."""

    features: pd.DataFrame
    ledger: pd.DataFrame
    inputs: ModelInputs
    raw: RawResult


def compute_features(
    ohlcv: pd.DataFrame, *, open_interest: pd.DataFrame | None = None, funding_rate: pd.DataFrame | None = None,
    mark: pd.DataFrame | None = None, pair: str, timeframe: str = "5m", config=None, tiers=None,
) -> pd.DataFrame:
    """Liquidation-cluster features for every candle.

    :param ohlcv: freqtrade candles: ``date, open, high, low, close, volume`` (prices in
        quote currency, volume in base units), dates strictly increasing. An optional
        ``taker_buy_volume`` column (base units) sets the long/short split.
    :param open_interest: freqtrade ``open_interest`` candles: ``date,
        open_interest_amount`` (base) and/or ``open_interest_value`` (quote). Optional.
    :param funding_rate: freqtrade ``funding_rate`` candles: ``date, funding_rate``
        (fraction per 8h; legacy files with the rate in ``open`` work too). Optional.
    :param mark: mark-price candles ``date, open, high, low, close``. Optional.
    :param pair: ccxt symbol, used to look up the maintenance-margin tiers.
    :param timeframe: the candles' timeframe, e.g. ``"5m"``.
    :param config: ``LiqConfig`` or dict of its keys.
    :param tiers: optional ccxt leverage tiers for ``pair`` (overrides the lookup).
    :returns: one row per input candle, same index, ``liq_*`` columns (see README);
        each value uses only data known at that candle's close.
    """
    inputs, index, cfg = prepare(
        ohlcv, open_interest=open_interest, funding_rate=funding_rate, mark=mark, pair=pair,
        timeframe=timeframe, config=config, tiers=tiers,
    )
    raw = run_fast(inputs)
    inputs.level_bucket = None  # the largest array; assembly does not need it
    release_free_memory()  # before the feature matrix is written
    return assemble_features(inputs, raw, index, cfg.windows)


def run_engine(
    ohlcv, *, open_interest=None, funding_rate=None, mark=None, pair: str, timeframe="5m",
    config=None, tiers=None, engine: str = "fast",
) -> EngineResult:
    """``compute_features`` plus the ledger and inputs; ``engine`` is "fast" or "reference"."""
    inputs, index, cfg = prepare(
        ohlcv, open_interest=open_interest, funding_rate=funding_rate, mark=mark, pair=pair,
        timeframe=timeframe, config=config, tiers=tiers,
    )
    if engine == "fast":
        raw = run_fast(inputs)
    elif engine == "reference":
        from liqrisk.core.reference import run_reference

        raw = run_reference(inputs)
    else:
        raise ValueError(f"engine={engine!r} must be 'fast' or 'reference'.")
    return EngineResult(
        features=assemble_features(inputs, raw, index, cfg.windows),
        ledger=assemble_ledger(raw, index, cfg.windows),
        inputs=inputs,
        raw=raw,
    )


def compute_features_reference(
    ohlcv: pd.DataFrame, *, open_interest=None, funding_rate=None, mark=None,
    pair: str, timeframe: str = "5m", config=None, tiers=None,
) -> pd.DataFrame:
    """Same contract as ``liqrisk.compute_features``, computed by ``run_reference``."""
    from liqrisk.core.features import run_engine

    return run_engine(
        ohlcv, open_interest=open_interest, funding_rate=funding_rate, mark=mark, pair=pair,
        timeframe=timeframe, config=config, tiers=tiers, engine="reference",
    ).features


def required_startup_candles(config=None, timeframe: str = "5m") -> int:
    """Candles of history that make the features at the first reported candle exact.

    Features at t use seeds from the longest window; a seed's OI change and funding
    tilt look back up to the staleness limits, plus one candle for the OI at its open.
    With at least this much history loaded before t, loading more changes nothing at t
    (freqtrade's recursive-analysis then shows 0% variance).
    """
    cfg = LiqConfig.from_mapping(config)
    tf = candle_timeframe_ns(timeframe)
    oi_stale = timeframe_to_ns(cfg.oi_max_staleness, key="oi_max_staleness") if cfg.oi_max_staleness else 3 * tf
    lookback = max(cfg.window_ns) + max(oi_stale, timeframe_to_ns(cfg.funding_max_staleness)) + 2 * tf
    return int(-(-lookback // tf))
