"""Input checks and time alignment: freqtrade frames in, ``ModelInputs`` out.
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

import numpy as np
import pandas as pd

from liqrisk._util import candle_timeframe_ns, timeframe_to_ns, warn_once
from liqrisk.config import LiqConfig
from liqrisk.core.frames import (
    asof,
    aux_frame,
    date_values,
    infer_timeframe_ns,
    numeric_column,
    parse_dates_ns,
)
from liqrisk.core.model import AlignedCandles, ModelInputs, build_inputs
from liqrisk.core.oi_sources import SOURCES_COLUMN, same_sources, source_mask
from liqrisk.core.tiers import tier_table
from liqrisk.errors import ConfigError, DataError

OHLCV_REQUIRED = ("open", "high", "low", "close", "volume")


def _duration(ns: int) -> str:
    """``300_000_000_000`` → ``'5m'`` (the largest unit that divides it)."""
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if ns % (size * 10**9) == 0:
            return f"{ns // (size * 10**9)}{unit}"
    return f"{ns}ns"


def check_timeframe(dates: np.ndarray, timeframe: str) -> int:
    """The candle length of ``timeframe`` in ns, after checking the candles are spaced so.

    A timeframe longer than the candles is lookahead: with 5m candles and ``"1h"``,
    row t would use OI known up to 55 minutes after its close. So any two candles closer
    than ``timeframe`` are refused; and from three steps on, the most common spacing must
    be ``timeframe`` (gaps are fine; one or two steps are too few to tell a gap from a
    timeframe). Fewer than two candles are not checked.
    """
    tf_ns = candle_timeframe_ns(timeframe)
    if len(dates) > 1:
        diffs = np.diff(dates)
        steps, counts = np.unique(diffs, return_counts=True)
        if diffs.min() < tf_ns or (len(diffs) >= 3 and counts[steps == tf_ns].sum() < counts.max()):
            spacing = _duration(int(steps[np.argmax(counts)] if diffs.min() >= tf_ns else diffs.min()))
            raise DataError(f"ohlcv candles are {spacing} apart but timeframe={timeframe!r}; "
                            f"pass timeframe={spacing!r}, the candles' own timeframe (a longer one reads data from "
                            "after each candle's close).")
    return tf_ns


#: Mark candles whose close is typically further than this from the last-price close
#: (median |mark / close − 1|) are at another scale or shifted (another pair, a 1000x
#: contract, a time offset): a mark-last basis is a fraction of a percent.
MAX_MEDIAN_MARK_GAP = 0.05


def _mark_off(frame, rows, hit, low, high, close, pair: str) -> np.ndarray:
    """bool per candle: the matched mark candles so far are a median more than
    ``MAX_MEDIAN_MARK_GAP`` from the candles' closes (expanding, so causal); warned once."""
    mark_close = numeric_column(frame, "close", "mark")[rows] if "close" in frame.columns else np.sqrt(low * high)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.where(hit, mark_close / close - 1.0, np.nan)
    off = _implausible(gap, MAX_MEDIAN_MARK_GAP)
    if (off & hit).any():
        warn_once(("mark_scale", pair), "liqrisk: mark candles for %s are a median over %g%% from the last-price "
                  "close (another scale, pair or time offset?); using last-price wicks to consume levels there.",
                  pair, 100 * MAX_MEDIAN_MARK_GAP)
    return off


def check_windows(cfg: LiqConfig, timeframe: str, pair: str = "") -> None:
    """Windows no longer than one candle hold only the candle's own levels, which are
    consumable from the next candle: their book estimates are always 0. All windows so
    short is a ConfigError; some (the default 12h next to 1d candles) one warning per pair."""
    tf_ns = candle_timeframe_ns(timeframe)
    short = [w for w, width in zip(cfg.windows, cfg.window_ns, strict=True) if width <= tf_ns]
    if not short:
        return
    fix = f"use windows of two candles or more (at least {_duration(2 * tf_ns)!r})"
    if len(short) == len(cfg.windows):
        raise ConfigError(f"windows={list(cfg.windows)}: none is longer than one {timeframe} candle, so every "
                          f"estimate would be 0; {fix}.")
    warn_once(("short_windows", pair, timeframe), "liqrisk: windows %s are not longer than one %s candle; their "
              "book estimates are 0 (%s).", short, timeframe, fix)


#: Funding whose median |rate| is above this (fraction per interval; 0.5%) is percent
#: given as a fraction: a normal market's median is about 0.01%, and exchanges cap
#: single rates near 0.3-2%.
MAX_MEDIAN_FUNDING = 0.005


def _implausible(values: np.ndarray, limit: float, *, first: int = 1) -> np.ndarray:
    """bool per row: the median |value| of the finite values up to and including that
    row exceeds ``limit`` (more than half of them do), judged from the ``first``-th value
    on. Expanding, so it is causal: a row's verdict never depends on later rows."""
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore"):
        over = np.cumsum(finite & (np.abs(values) > limit))
    seen = np.cumsum(finite)
    return (2 * over > seen) & (seen >= first)


def _funding_asof(fr: tuple[pd.DataFrame, np.ndarray] | None, close_ns: np.ndarray, max_staleness: str,
                  pair: str = "") -> np.ndarray:
    """Funding known at each close: the latest finite row with D + tf_f <= close (tf_f
    inferred from the rows, 1h if only one), NaN if none or older than ``max_staleness``.
    NaN (the funding fallback) too while the rates known so far look like percent
    (``MAX_MEDIAN_FUNDING``), with one warning per pair."""
    if fr is None:
        return np.full(len(close_ns), np.nan)
    frame, f_dates = fr
    column = "funding_rate" if "funding_rate" in frame.columns else "open" if "open" in frame.columns else None
    if column is None:
        raise DataError(f"funding_rate needs a 'funding_rate' column, got columns {list(frame.columns)}.")
    rates = numeric_column(frame, column, "funding_rate")
    tf_f = infer_timeframe_ns(f_dates, 3600 * 10**9)
    max_age = timeframe_to_ns(max_staleness, key="funding_max_staleness")
    out = asof(f_dates + tf_f, rates, close_ns, max_age)
    percent = _implausible(rates, MAX_MEDIAN_FUNDING, first=3)  # one odd settlement is not a verdict
    if percent.any():
        # The verdict of the latest row known at each close (finite: every row has one).
        known = asof(f_dates + tf_f, percent.astype(np.float64), close_ns, np.iinfo(np.int64).max) == 1.0
        if known.any():
            warn_once(("funding_percent", pair), "liqrisk: funding_rate for %s has a median |rate| above %g per "
                      "interval, implausible as a fraction (0.0001 = 0.01%%): are these percent? Divide by 100. "
                      "The funding tilt is off there (liq_funding_fallback=1).", pair, MAX_MEDIAN_FUNDING)
            out = np.where(known, np.nan, out)
    return out


def funding_at_close(dates, funding_rate, *, timeframe: str, max_staleness: str, pair: str = "") -> np.ndarray:
    """Funding rate known at each candle's close (fraction per 8h), float64, one per date.

    The same rule (and cleaning) ``align`` applies for the engine: candle t (open d_t) is
    known at d_t + ``timeframe``; it gets the latest finite ``funding_rate`` row with
    D + tf_f <= that close, NaN if none or older than ``max_staleness`` (e.g. ``"12h"``).
    ``dates`` are the candles' UTC open times; ``funding_rate`` is freqtrade's
    ``date, funding_rate`` frame (legacy files: the rate in ``open``) or None.
    """
    dates_ns = parse_dates_ns(dates, "ohlcv") if len(dates) else np.zeros(0, np.int64)
    close_ns = dates_ns + check_timeframe(dates_ns, timeframe)
    return _funding_asof(aux_frame(funding_rate, "funding_rate", pair), close_ns, max_staleness, pair)


def prepare(
    ohlcv, *, open_interest=None, funding_rate=None, mark=None, pair: str, timeframe="5m",
    config=None, tiers=None,
) -> tuple[ModelInputs, pd.Index, LiqConfig]:
    """Check inputs, align every series to candle closes and apply the model rules."""
    cfg = LiqConfig.from_mapping(config)
    dates, cols = candle_arrays(ohlcv)
    check_timeframe(dates, timeframe)
    candles, have_oi, have_funding = align(
        dates, cols, cfg=cfg, timeframe=timeframe, pair=pair,
        open_interest=open_interest, funding_rate=funding_rate, mark=mark,
    )
    table = tier_table(pair, tiers_path=cfg.tiers_path, tiers=tiers)
    return model_inputs(candles, cfg, table, pair=pair, have_oi=have_oi, have_funding=have_funding), ohlcv.index, cfg


def model_inputs(candles: AlignedCandles, cfg: LiqConfig, table, *, pair: str, have_oi: bool,
                 have_funding: bool) -> ModelInputs:
    """``build_inputs`` plus the once-per-pair warnings about missing OI and funding."""
    inputs = build_inputs(candles, cfg, table)
    n = inputs.n
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
    return inputs


def candle_arrays(ohlcv) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Checked OHLCV: dates (int64 ns, strictly increasing) and float64 columns, plus
    ``taker_buy_volume`` when present."""
    if not isinstance(ohlcv, pd.DataFrame):
        raise DataError(f"ohlcv must be a pandas DataFrame, got {type(ohlcv).__name__}.")
    missing = [c for c in OHLCV_REQUIRED if c not in ohlcv.columns]
    if missing:
        raise DataError(f"ohlcv is missing column(s) {missing}; freqtrade candles have date, open, high, low, close, volume.")
    dates = parse_dates_ns(date_values(ohlcv, "ohlcv"), "ohlcv") if len(ohlcv) else np.zeros(0, np.int64)
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
    cols = {c: numeric_column(ohlcv, c, "ohlcv") for c in OHLCV_REQUIRED}
    if "taker_buy_volume" in ohlcv.columns:
        taker = cols["taker_buy_volume"] = numeric_column(ohlcv, "taker_buy_volume", "ohlcv")
        with np.errstate(invalid="ignore"):  # up to 1% over volume is rounding between feeds (clipped)
            bad = (taker < 0) | ((cols["volume"] > 0) & (taker > 1.01 * cols["volume"]))
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"ohlcv: taker_buy_volume must be between 0 and volume (both base units); row {i} has "
                            f"{taker[i]!r} with volume {cols['volume'][i]!r}. Convert quote amounts with / close, "
                            "or drop the column (the candle shape then sets the long/short split).")
    return dates, cols


def align(
    dates: np.ndarray, cols: dict[str, np.ndarray], *, cfg: LiqConfig, timeframe: str, pair: str,
    open_interest=None, funding_rate=None, mark=None, info: dict | None = None,
) -> tuple[AlignedCandles, bool, bool]:
    """Align OI, funding and mark frames to checked candle arrays (see the module docstring).

    :param info: if given, filled with ``{frame name: (first row's date, first candle open
        date whose value depends only on rows from that date on)}`` (int64 ns) per frame
        used. ``LiveFeatures`` reads it to tell a frame trimmed at the front from a revision.
    :returns: (aligned candles, whether OI rows were given, whether funding rows were given).
    """
    info = {} if info is None else info
    tf_ns = candle_timeframe_ns(timeframe)  # the spacing itself: ``check_timeframe`` on the whole frame
    check_windows(cfg, timeframe, pair)
    n = len(dates)
    close_ns = dates + tf_ns
    volume = cols["volume"]

    taker = np.full(n, np.nan)
    if "taker_buy_volume" in cols:
        with np.errstate(invalid="ignore", divide="ignore"):
            taker = np.where(volume > 0, cols["taker_buy_volume"] / volume, np.nan)

    oi_open = np.full(n, np.nan)
    oi_close = np.full(n, np.nan)
    oi_high = np.full(n, np.nan)
    oi_low = np.full(n, np.nan)
    oi = aux_frame(open_interest, "open_interest", pair)
    if oi is not None:
        frame, oi_dates = oi
        tf_oi = infer_timeframe_ns(oi_dates, tf_ns)
        max_age = timeframe_to_ns(cfg.oi_max_staleness, key="oi_max_staleness") if cfg.oi_max_staleness else 3 * tf_oi
        avail = oi_dates + tf_oi
        # The OI at t's open (queried at d_t) reaches back max_age before it.
        info["open_interest"] = (int(oi_dates[0]), int(oi_dates[0]) + tf_oi + max_age)
        for column, to_usd in (("open_interest_value", None), ("open_interest_amount", cols["close"])):
            if column not in frame.columns:
                continue
            values = numeric_column(frame, column, "open_interest")
            at_open = asof(avail, values, dates, max_age)
            at_close = asof(avail, values, close_ns, max_age)
            if to_usd is not None:
                at_open, at_close = at_open * to_usd, at_close * to_usd
            fill = ~(np.isfinite(oi_open) & np.isfinite(oi_close)) & np.isfinite(at_open) & np.isfinite(at_close)
            oi_open = np.where(fill, at_open, oi_open)
            oi_close = np.where(fill, at_close, oi_close)
        if SOURCES_COLUMN in frame.columns:  # summed OI: a source joining or leaving is no change of positions
            mask = source_mask(frame)
            oi_open, oi_close = same_sources(asof(avail, mask, dates, max_age), asof(avail, mask, close_ns, max_age),
                                             oi_open, oi_close)
        if {"open_interest_high", "open_interest_low"} <= set(frame.columns) and tf_oi == tf_ns:
            # OI's range within the row's own candle (quote), known at that candle's close:
            # only the row that closes exactly at t's close belongs to t.
            oi_high = asof(avail, numeric_column(frame, "open_interest_high", "open_interest"), close_ns, 0)
            oi_low = asof(avail, numeric_column(frame, "open_interest_low", "open_interest"), close_ns, 0)
        if not {"open_interest_value", "open_interest_amount"} & set(frame.columns):
            raise DataError("open_interest needs 'open_interest_value' (quote) or 'open_interest_amount' (base); "
                            f"got columns {list(frame.columns)}.")

    fr = aux_frame(funding_rate, "funding_rate", pair)
    funding = _funding_asof(fr, close_ns, cfg.funding_max_staleness, pair)
    if fr is not None:  # queried at t's close, reaching back funding_max_staleness
        first = int(fr[1][0])
        info["funding_rate"] = (first, first + infer_timeframe_ns(fr[1], 3600 * 10**9) - tf_ns
                                + timeframe_to_ns(cfg.funding_max_staleness, key="funding_max_staleness"))

    mark_low = np.full(n, np.nan)
    mark_high = np.full(n, np.nan)
    mk = aux_frame(mark, "mark", pair) if cfg.use_mark else None
    if mk is not None:
        frame, m_dates = mk
        info["mark"] = (int(m_dates[0]), int(m_dates[0]))  # matched by date
        if not {"high", "low"} <= set(frame.columns):
            raise DataError(f"mark needs 'high' and 'low' columns (mark-price candles), got columns "
                            f"{list(frame.columns)}; pass mark=None to consume levels with last-price wicks.")
        if infer_timeframe_ns(m_dates, tf_ns) != tf_ns:
            warn_once(("mark_tf", pair), "liqrisk: mark candles for %s are not at the %s timeframe; using "
                      "last-price wicks to consume levels.", pair, timeframe)
        else:
            pos = np.searchsorted(m_dates, dates)
            hit = (pos < len(m_dates)) & (m_dates[np.minimum(pos, len(m_dates) - 1)] == dates)
            safe = np.minimum(pos, len(m_dates) - 1)
            low, high = numeric_column(frame, "low", "mark")[safe], numeric_column(frame, "high", "mark")[safe]
            hit &= ~_mark_off(frame, safe, hit, low, high, cols["close"], pair)
            mark_low = np.where(hit, low, np.nan)
            mark_high = np.where(hit, high, np.nan)

    candles = AlignedCandles(
        dates_ns=dates, open=cols["open"], high=cols["high"], low=cols["low"], close=cols["close"],
        volume=volume, oi_open_usd=oi_open, oi_close_usd=oi_close, funding=funding,
        consume_low=mark_low, consume_high=mark_high, taker_buy_share=taker, timeframe_ns=tf_ns,
        oi_high_usd=oi_high, oi_low_usd=oi_low,
    )
    return candles, oi is not None, fr is not None
