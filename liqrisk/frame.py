"""pandas in, pandas out: input checks, time alignment, and the feature DataFrame.

Time alignment (the no-lookahead contract)
-------------------------------------------
Every row of every input is a *candle* stamped with its open time, the way freqtrade
stores data. A row stamped D with timeframe tf is known at D + tf, its close. This is
freqtrade's own informative-merge rule (``merge_informative_pair`` shifts a row by its
timeframe), so a value used here is a value freqtrade would have had live.

* Candle t (open d_t) is known at its close, c_t = d_t + timeframe.
* OI known at c_t is the latest OI row with D + tf_oi <= c_t; "OI at t's open" is the
  latest with D + tf_oi <= d_t. Their difference is t's OI change: it depends only on
  data inside t, so features stay recursion-stable. For Binance, whose OI row D is the
  snapshot at D, this lags the physical change by one OI candle: the price of being
  exactly what a live bot can see.
* Funding: the latest funding row with D + tf_f <= c_t.
* Mark candles are used for consumption only when their timeframe equals the candles'
  (a 1h mark high inside a 5m candle would be lookahead); rows are matched by date.
* A value older than its staleness limit counts as missing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from liqrisk._util import timeframe_to_ns, warn_once
from liqrisk.config import LiqConfig
from liqrisk.core import kernels as k
from liqrisk.engine import RawResult, run_fast
from liqrisk.errors import DataError
from liqrisk.model import AlignedCandles, ModelInputs, build_inputs
from liqrisk.tiers import tier_table

OHLCV_REQUIRED = ("open", "high", "low", "close", "volume")


@dataclass
class EngineResult:
    """Features plus the engine's bookkeeping (for tests, validation and pictures)."""

    features: pd.DataFrame
    ledger: pd.DataFrame
    inputs: ModelInputs
    raw: RawResult


def feature_columns(windows) -> list[str]:
    """Every column ``compute_features`` returns, in order."""
    cols = []
    for w in windows:
        cols += [
            f"liq_long_est_usd_{w}", f"liq_short_est_usd_{w}",
            f"liq_long_outstanding_usd_{w}", f"liq_short_outstanding_usd_{w}", f"liq_imbalance_{w}",
        ]
        for where in ("above", "below"):
            for kind in ("nearest", "strongest"):
                cols += [f"liq_{where}_{kind}_{x}_{w}" for x in ("price", "usd", "dist")]
    cols += [
        "liq_confluence_above", "liq_confluence_above_price",
        "liq_confluence_below", "liq_confluence_below_price",
        "liq_seed_usd", "liq_long_share", "liq_oi_fallback", "liq_funding_fallback",
    ]
    return cols


def compute_features(
    ohlcv: pd.DataFrame, *, open_interest: pd.DataFrame | None = None, funding_rate: pd.DataFrame | None = None,
    mark: pd.DataFrame | None = None, pair: str = "BTC/USDT:USDT", timeframe: str = "5m", config=None, tiers=None,
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
    return assemble_features(inputs, raw, index, cfg.windows)


def run_engine(
    ohlcv, *, open_interest=None, funding_rate=None, mark=None, pair="BTC/USDT:USDT", timeframe="5m",
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
        from liqrisk.reference import run_reference

        raw = run_reference(inputs)
    else:
        raise ValueError(f"engine={engine!r} must be 'fast' or 'reference'.")
    return EngineResult(
        features=assemble_features(inputs, raw, index, cfg.windows),
        ledger=assemble_ledger(raw, index, cfg.windows),
        inputs=inputs,
        raw=raw,
    )


# ---------------------------------------------------------------------------------------
# Input checks and alignment


def _dates_ns(values, what: str) -> np.ndarray:
    dtype = getattr(values, "dtype", None)
    if isinstance(dtype, pd.DatetimeTZDtype):  # freqtrade's own layout: no parsing, no index objects
        ns = values.to_numpy(dtype="datetime64[ns]")
        if np.isnat(ns).any():
            raise DataError(f"{what}: 'date' has missing values; drop those rows.")
        return ns.view(np.int64)
    else:
        try:
            idx = pd.DatetimeIndex(pd.to_datetime(values, utc=True))
        except (TypeError, ValueError) as e:
            raise DataError(f"{what}: 'date' cannot be parsed as datetimes ({e}).") from e
    if idx.hasnans:
        raise DataError(f"{what}: 'date' has missing values; drop those rows.")
    return idx.as_unit("ns").asi8


def _numeric(frame: pd.DataFrame, column: str, what: str) -> np.ndarray:
    col = frame[column]
    if col.dtype.kind in "fiu":
        return np.ascontiguousarray(col.to_numpy(dtype=np.float64))
    try:
        return np.ascontiguousarray(pd.to_numeric(col, errors="raise").to_numpy(dtype=np.float64))
    except (TypeError, ValueError) as e:
        raise DataError(f"{what}: column {column!r} is not numeric ({e}).") from e


def _date_values(frame: pd.DataFrame, what: str):
    if "date" in frame.columns:
        return frame["date"]
    if isinstance(frame.index, pd.DatetimeIndex):
        return frame.index
    raise DataError(f"{what}: needs a 'date' column (UTC candle open times), got columns {list(frame.columns)}.")


def _aux_frame(frame, what: str, pair: str) -> tuple[pd.DataFrame, np.ndarray] | None:
    """Sorted, de-duplicated auxiliary frame and its dates (ns); None if empty."""
    if frame is None:
        return None
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{what} must be a pandas DataFrame or None, got {type(frame).__name__}.")
    if frame.empty:
        return None
    dates = _dates_ns(_date_values(frame, what), what)
    order = np.argsort(dates, kind="stable")
    if np.any(np.diff(dates) <= 0):
        # Keep the last row per date, like freqtrade's own cleaning.
        warn_once(("unsorted", what, pair), "liqrisk: %s for %s was unsorted or had duplicate dates; sorted, kept the last row per date.", what, pair)
        frame = frame.iloc[order]
        dates = dates[order]
        keep = np.append(dates[1:] != dates[:-1], True)
        frame, dates = frame[keep], dates[keep]
    return frame, dates


def _infer_timeframe_ns(dates: np.ndarray, default: int) -> int:
    if len(dates) < 2:
        return default
    return int(np.median(np.diff(dates)))


def _asof(avail_ns: np.ndarray, values: np.ndarray, query_ns: np.ndarray, max_age_ns: int) -> np.ndarray:
    """Latest finite value available at each query time and not older than max_age."""
    ok = np.isfinite(values)
    avail_ns, values = avail_ns[ok], values[ok]
    idx = np.searchsorted(avail_ns, query_ns, side="right") - 1
    safe = np.maximum(idx, 0)
    fresh = (idx >= 0) & (query_ns - avail_ns[safe] <= max_age_ns) if len(values) else np.zeros(len(query_ns), bool)
    return np.where(fresh, values[safe] if len(values) else np.nan, np.nan)


def prepare(
    ohlcv, *, open_interest=None, funding_rate=None, mark=None, pair="BTC/USDT:USDT", timeframe="5m",
    config=None, tiers=None,
) -> tuple[ModelInputs, pd.Index, LiqConfig]:
    """Check inputs, align every series to candle closes and apply the model rules."""
    cfg = LiqConfig.from_mapping(config)
    dates, cols = candle_arrays(ohlcv)
    candles, have_oi, have_funding = align(
        dates, cols, cfg=cfg, timeframe=timeframe, pair=pair,
        open_interest=open_interest, funding_rate=funding_rate, mark=mark,
    )
    inputs = build_inputs(candles, cfg, tier_table(pair, tiers_path=cfg.tiers_path, tiers=tiers))
    n = len(dates)
    if n:
        if inputs.oi_fallback.all():
            why = "no open_interest given" if not have_oi else "open_interest has no usable values"
            warn_once(("no_oi", pair), "liqrisk: %s for %s; seeding from volume (liq_oi_fallback=1).", why, pair)
        elif inputs.oi_fallback.any():
            warn_once(("oi_gaps", pair), "liqrisk: open_interest for %s has gaps; %d of %d candles use the "
                      "volume proxy (liq_oi_fallback=1).", pair, int(inputs.oi_fallback.sum()), n)
        if not have_funding or inputs.funding_fallback.all():
            warn_once(("no_funding", pair), "liqrisk: no usable funding_rate for %s; the funding tilt is off "
                      "(liq_funding_fallback=1).", pair)
    return inputs, ohlcv.index, cfg


def candle_arrays(ohlcv) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Checked OHLCV: dates (int64 ns, strictly increasing) and float64 columns, plus
    ``taker_buy_volume`` when present."""
    if not isinstance(ohlcv, pd.DataFrame):
        raise DataError(f"ohlcv must be a pandas DataFrame, got {type(ohlcv).__name__}.")
    missing = [c for c in OHLCV_REQUIRED if c not in ohlcv.columns]
    if missing:
        raise DataError(f"ohlcv is missing column(s) {missing}; freqtrade candles have date, open, high, low, close, volume.")
    dates = _dates_ns(_date_values(ohlcv, "ohlcv"), "ohlcv") if len(ohlcv) else np.zeros(0, np.int64)
    if len(dates) > 1:
        step = np.diff(dates)
        if np.any(step == 0):
            i = int(np.argmax(step == 0)) + 1
            raise DataError(f"ohlcv has duplicate dates (first at row {i}: {pd.Timestamp(dates[i], tz='UTC')}); "
                            "drop them, e.g. df.drop_duplicates('date', keep='last').")
        if np.any(step < 0):
            i = int(np.argmax(step < 0)) + 1
            raise DataError(f"ohlcv dates are not sorted (row {i}: {pd.Timestamp(dates[i], tz='UTC')}); "
                            "sort with df.sort_values('date').")
    cols = {c: _numeric(ohlcv, c, "ohlcv") for c in OHLCV_REQUIRED}
    if "taker_buy_volume" in ohlcv.columns:
        cols["taker_buy_volume"] = _numeric(ohlcv, "taker_buy_volume", "ohlcv")
    return dates, cols


def align(
    dates: np.ndarray, cols: dict[str, np.ndarray], *, cfg: LiqConfig, timeframe: str, pair: str,
    open_interest=None, funding_rate=None, mark=None,
) -> tuple[AlignedCandles, bool, bool]:
    """Align OI, funding and mark frames to checked candle arrays (see the module docstring).

    :returns: (aligned candles, whether OI rows were given, whether funding rows were given).
    """
    tf_ns = timeframe_to_ns(timeframe)
    n = len(dates)
    close_ns = dates + tf_ns
    volume = cols["volume"]

    taker = np.full(n, np.nan)
    if "taker_buy_volume" in cols:
        with np.errstate(invalid="ignore", divide="ignore"):
            taker = np.where(volume > 0, cols["taker_buy_volume"] / volume, np.nan)

    oi_open = np.full(n, np.nan)
    oi_close = np.full(n, np.nan)
    oi = _aux_frame(open_interest, "open_interest", pair)
    if oi is not None:
        frame, oi_dates = oi
        tf_oi = _infer_timeframe_ns(oi_dates, tf_ns)
        max_age = timeframe_to_ns(cfg.oi_max_staleness, key="oi_max_staleness") if cfg.oi_max_staleness else 3 * tf_oi
        avail = oi_dates + tf_oi
        for column, to_usd in (("open_interest_value", None), ("open_interest_amount", cols["close"])):
            if column not in frame.columns:
                continue
            values = _numeric(frame, column, "open_interest")
            at_open = _asof(avail, values, dates, max_age)
            at_close = _asof(avail, values, close_ns, max_age)
            if to_usd is not None:
                at_open, at_close = at_open * to_usd, at_close * to_usd
            fill = ~(np.isfinite(oi_open) & np.isfinite(oi_close)) & np.isfinite(at_open) & np.isfinite(at_close)
            oi_open = np.where(fill, at_open, oi_open)
            oi_close = np.where(fill, at_close, oi_close)
        if not {"open_interest_value", "open_interest_amount"} & set(frame.columns):
            raise DataError("open_interest needs 'open_interest_value' (quote) or 'open_interest_amount' (base); "
                            f"got columns {list(frame.columns)}.")

    funding = np.full(n, np.nan)
    fr = _aux_frame(funding_rate, "funding_rate", pair)
    if fr is not None:
        frame, f_dates = fr
        column = "funding_rate" if "funding_rate" in frame.columns else "open" if "open" in frame.columns else None
        if column is None:
            raise DataError(f"funding_rate needs a 'funding_rate' column, got columns {list(frame.columns)}.")
        tf_f = _infer_timeframe_ns(f_dates, 3600 * 10**9)
        funding = _asof(f_dates + tf_f, _numeric(frame, column, "funding_rate"), close_ns,
                        timeframe_to_ns(cfg.funding_max_staleness, key="funding_max_staleness"))

    mark_low = np.full(n, np.nan)
    mark_high = np.full(n, np.nan)
    mk = _aux_frame(mark, "mark", pair) if cfg.use_mark else None
    if mk is not None:
        frame, m_dates = mk
        if _infer_timeframe_ns(m_dates, tf_ns) != tf_ns:
            warn_once(("mark_tf", pair), "liqrisk: mark candles for %s are not at the %s timeframe; using "
                      "last-price wicks to consume levels.", pair, timeframe)
        else:
            pos = np.searchsorted(m_dates, dates)
            hit = (pos < len(m_dates)) & (m_dates[np.minimum(pos, len(m_dates) - 1)] == dates)
            safe = np.minimum(pos, len(m_dates) - 1)
            if "low" in frame.columns and "high" in frame.columns:
                mark_low = np.where(hit, _numeric(frame, "low", "mark")[safe], np.nan)
                mark_high = np.where(hit, _numeric(frame, "high", "mark")[safe], np.nan)

    candles = AlignedCandles(
        dates_ns=dates, open=cols["open"], high=cols["high"], low=cols["low"], close=cols["close"],
        volume=volume, oi_open_usd=oi_open, oi_close_usd=oi_close, funding=funding,
        consume_low=mark_low, consume_high=mark_high, taker_buy_share=taker, timeframe_ns=tf_ns,
    )
    return candles, oi is not None, fr is not None


# ---------------------------------------------------------------------------------------
# Output


def feature_matrix(inputs: ModelInputs, raw: RawResult, windows, rows: slice = slice(None)) -> np.ndarray:
    """float64 [rows, columns] in ``feature_columns(windows)`` order, written in place."""
    ref = inputs.ref_price[rows]
    n_rows = len(ref)
    # Column-major: every column is written (and later read by pandas) contiguously.
    matrix = np.empty((n_rows, len(feature_columns(windows))), order="F")
    col = 0

    def put(values) -> None:
        nonlocal col
        matrix[:, col] = values
        col += 1

    # Bucket slots hold relative indices as floats, −1 for none: a lookup whose last
    # entry is NaN turns them into prices without an exp per row.
    centers = np.append(inputs.bucket_center(np.arange(inputs.n_buckets)), np.nan)

    def price_of(bucket_row: np.ndarray) -> np.ndarray:
        return centers.take(np.nan_to_num(bucket_row, nan=-1.0).astype(np.intp))  # NaN: no confluence (one window)

    with np.errstate(invalid="ignore", divide="ignore"):
        for w in range(len(windows)):
            o = raw.out[w][..., rows]
            long_out, short_out = o[0, k.OUTSTANDING], o[1, k.OUTSTANDING]
            both = long_out + short_out
            for values in (o[0, k.EST], o[1, k.EST], long_out, short_out,
                           np.where(both > 0, (short_out - long_out) / both, 0.0)):
                put(values)
            for side in (1, 0):  # above (short levels), then below (long levels)
                for b_slot, u_slot in ((k.NEAR_BUCKET, k.NEAR_USD), (k.STRONG_BUCKET, k.STRONG_USD)):
                    price = price_of(o[side, b_slot])
                    put(price)
                    put(o[side, u_slot])
                    put(np.abs(price / ref - 1.0))
        for side in (1, 0):
            put(raw.conf[side, 0][rows])
            put(price_of(raw.conf[side, 1][rows]))
    for values in (raw.seeded[rows], inputs.long_share[rows], inputs.oi_fallback[rows], inputs.funding_fallback[rows]):
        put(values)
    return matrix


def features_frame(matrix: np.ndarray, index: pd.Index, windows) -> pd.DataFrame:
    """The public DataFrame: one float64 block (flags are 0.0 / 1.0), cheap to build per candle."""
    return pd.DataFrame(matrix, index=index, columns=feature_columns(windows), copy=False)


def assemble_features(inputs: ModelInputs, raw: RawResult, index: pd.Index, windows) -> pd.DataFrame:
    return features_frame(feature_matrix(inputs, raw, windows), index, windows)


def assemble_ledger(raw: RawResult, index: pd.Index, windows) -> pd.DataFrame:
    """Per-window USD flows per candle: seeded = outstanding + consumed + expired + closed + decayed."""
    data = {}
    for w, name in enumerate(windows):
        data[f"seeded_{name}"] = raw.seeded
        data[f"consumed_{name}"] = raw.out[w, 0, k.EST] + raw.out[w, 1, k.EST]
        data[f"expired_{name}"] = raw.ledger[w, k.EXPIRED]
        data[f"closed_{name}"] = raw.ledger[w, k.CLOSED]
        data[f"decayed_{name}"] = raw.ledger[w, k.DECAYED]
        data[f"outstanding_{name}"] = raw.out[w, 0, k.OUTSTANDING] + raw.out[w, 1, k.OUTSTANDING]
    return pd.DataFrame(data, index=index)


def required_startup_candles(config=None, timeframe: str = "5m") -> int:
    """Candles of history that make the features at the first reported candle exact.

    Features at t use seeds from the longest window; a seed's OI change and funding
    tilt look back up to the staleness limits, plus one candle for the OI at its open.
    With at least this much history loaded before t, loading more changes nothing at t
    (freqtrade's recursive-analysis then shows 0% variance).
    """
    cfg = LiqConfig.from_mapping(config)
    tf = timeframe_to_ns(timeframe)
    oi_stale = timeframe_to_ns(cfg.oi_max_staleness, key="oi_max_staleness") if cfg.oi_max_staleness else 3 * tf
    lookback = max(cfg.window_ns) + max(oi_stale, timeframe_to_ns(cfg.funding_max_staleness)) + 2 * tf
    return int(-(-lookback // tf))
