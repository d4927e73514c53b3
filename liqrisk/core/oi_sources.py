"""Open interest summed over exchanges (the ``oi_sources`` setting), with a per-stamp flag
saying which exchanges the sum holds.

Coinglass-style aggregate OI is the sum, in USD, of each exchange's OI at the same time.
The readers (``liqrisk.tools.datadir``, the adapter) load each exchange's freqtrade
``open_interest`` candles and ``sum_open_interest`` adds them; the engine then takes the
summed frame like any ``open_interest`` frame.

Rules
-----
* **Per stamp, what is present, flagged.** The summed row at stamp D holds every source
  with a fresh value there and ``oi_sources``, a bitmask of those sources (bit i = the
  i-th name of the ``oi_sources`` list: binance = 1, bybit = 2, okx = 4 for
  ``["binance", "bybit", "okx"]``; 7 = all three). A missing source is left out of the
  sum and out of the mask, never counted as zero.
* **A source joining or leaving is not a change in positions.** The engine seeds new
  levels from the OI change of a candle. When the OI known at a candle's open and the OI
  known at its close hold different sources, that change is a source's whole OI, so the
  engine treats the candle's OI change as unknown: the volume proxy seeds it and
  ``liq_oi_fallback`` is 1 (``same_sources``, called by ``liqrisk.core.align``).
* **No lookahead.** A row stamped D of timeframe tf is known at D + tf (the rule of
  ``liqrisk.core.align``). The summed frame has the finest source timeframe tf₀; its row
  D (known at D + tf₀) takes, per source, the latest row known by D + tf₀, and only while
  no newer row of that source was due (younger than its own timeframe). With one
  timeframe for all sources this is exactly "the rows stamped D".
* **USD.** A source row's ``open_interest_value`` (quote currency). A row with only
  ``open_interest_amount`` (base units; freqtrade's Bybit files) is priced at the close
  of the latest candle known when the row is (``price``); without a price it is missing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from liqrisk.core.frames import (
    asof,
    aux_frame,
    date_values,
    infer_timeframe_ns,
    numeric_column,
    parse_dates_ns,
)

#: Column of the summed OI frame (and name of the model setting) with the source bitmask.
SOURCES_COLUMN = "oi_sources"
#: The per-candle flag column the adapter and the tools add beside the ``liq_*`` features.
FLAG_COLUMN = "liq_oi_sources"


def _frame_dates_ns(frame: pd.DataFrame, what: str) -> np.ndarray:
    return parse_dates_ns(date_values(frame, what), what)


def _step_ns(dates: np.ndarray) -> int:
    """A frame's timeframe: its most common spacing (gaps do not change it)."""
    if len(dates) < 2:
        return 0
    steps, counts = np.unique(np.diff(dates), return_counts=True)
    return int(steps[np.argmax(counts)])


def _source_usd(frame: pd.DataFrame, dates: np.ndarray, tf: int, price) -> np.ndarray:
    """USD per row: ``open_interest_value``, else amount × the latest close known at D + tf."""
    n = len(dates)
    usd = numeric_column(frame, "open_interest_value", "open_interest") if "open_interest_value" in frame else np.full(n, np.nan)
    if "open_interest_amount" in frame and price is not None and not price.empty:
        p_dates = _frame_dates_ns(price, "price")
        p_close = numeric_column(price, "close", "price")
        p_avail = p_dates + max(_step_ns(p_dates), 1)
        at = np.searchsorted(p_avail, dates + tf, side="right") - 1
        px = np.where(at >= 0, p_close[np.maximum(at, 0)], np.nan)
        usd = np.where(np.isfinite(usd), usd, numeric_column(frame, "open_interest_amount", "open_interest") * px)
    return np.where(np.isfinite(usd) & (usd > 0), usd, np.nan)


def sum_open_interest(frames: Sequence[pd.DataFrame | None], *, price: pd.DataFrame | None = None,
                      ) -> pd.DataFrame | None:
    """Sum freqtrade ``open_interest`` frames of one pair on several exchanges, per stamp.

    :param frames: one frame (``date, open_interest_value`` and/or ``open_interest_amount``)
        or None per source, in the order of the ``oi_sources`` setting (it fixes the bits).
    :param price: the pair's candles (``date, close``, quote currency), to price rows that
        carry only an amount in base units; optional.
    :returns: ``date`` (UTC), ``open_interest_value`` (USD, the sum) and ``oi_sources``
        (float64 bitmask of the sources summed), one row per stamp where at least one
        source has a value; None when no source has any. See the module docstring.
    """
    if len(frames) > 52:
        raise ValueError(f"oi_sources: {len(frames)} sources; a float64 bitmask holds at most 52.")
    parts = []
    for bit, frame in enumerate(frames):
        if frame is None or frame.empty:
            continue
        dates = _frame_dates_ns(frame, "open_interest")
        order = np.argsort(dates, kind="stable")
        dates = dates[order]
        keep = np.append(dates[1:] != dates[:-1], True)  # the last row per stamp, as freqtrade cleans
        tf = _step_ns(dates)
        usd = _source_usd(frame.iloc[order], dates, tf, price)[keep]
        dates = dates[keep]
        ok = np.isfinite(usd)
        if ok.any():
            parts.append((bit, dates[ok], usd[ok], tf))
    if not parts:
        return None
    known = [tf for *_, tf in parts if tf > 0]
    tf0 = min(known) if known else 0
    # Each source's stamps, moved to the summed frame's timeframe (known at the same moment).
    stamps = np.unique(np.concatenate([d + (tf or tf0) - tf0 for _, d, _, tf in parts]))
    total = np.zeros(len(stamps))
    mask = np.zeros(len(stamps))
    for bit, dates, usd, tf in parts:
        tf = tf or tf0
        avail = dates + tf
        at = np.searchsorted(avail, stamps + tf0, side="right") - 1
        fresh = (at >= 0) & (stamps + tf0 - avail[np.maximum(at, 0)] < max(tf, 1))
        total += np.where(fresh, usd[np.maximum(at, 0)], 0.0)
        mask += np.where(fresh, float(2**bit), 0.0)
    have = mask > 0
    return pd.DataFrame({
        "date": pd.DatetimeIndex(stamps[have].astype("datetime64[ns]")).tz_localize("UTC"),
        "open_interest_value": total[have],
        SOURCES_COLUMN: mask[have],
    })


def source_mask(frame: pd.DataFrame) -> np.ndarray:
    """The ``oi_sources`` bitmask per row of a summed frame (float64), NaN where the row
    has no OI value (as-of look-ups then skip it, as they skip the value)."""
    mask = numeric_column(frame, SOURCES_COLUMN, "open_interest")
    value = numeric_column(frame, "open_interest_value", "open_interest") if "open_interest_value" in frame else None
    return mask if value is None else np.where(np.isfinite(value), mask, np.nan)


def same_sources(mask_open: np.ndarray, mask_close: np.ndarray, oi_open: np.ndarray, oi_close: np.ndarray,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """OI at each candle's open and close, NaN where the two hold different sources: that
    change would be a source's whole OI, not positions opened or closed."""
    differ = np.isfinite(mask_open) & np.isfinite(mask_close) & (mask_open != mask_close)
    return np.where(differ, np.nan, oi_open), np.where(differ, np.nan, oi_close)


def sources_flag(dates, open_interest: pd.DataFrame | None, oi_fallback, *, timeframe: str,
                 oi_max_staleness: str | None = None) -> np.ndarray:
    """``liq_oi_sources`` per candle (float64): the bitmask of the sources in the OI change
    that seeded the candle, the same look-up the engine makes at the candle's close; 0.0
    where ``oi_fallback`` is 1 (the change was unknown: no OI, stale, or the sources
    differed between the candle's open and close).

    :param dates: the candles' UTC open times.
    :param open_interest: a summed frame (``sum_open_interest``); without an ``oi_sources``
        column every candle with OI gets 1.0 (one source: the bot's own exchange).
    :param oi_fallback: the features' ``liq_oi_fallback`` column.
    """
    from liqrisk._util import candle_timeframe_ns, timeframe_to_ns
    fallback = np.asarray(oi_fallback, dtype=np.float64)
    n = len(fallback)
    aux = aux_frame(open_interest, "open_interest", "")
    if aux is None or not n:
        return np.zeros(n)
    frame, oi_dates = aux
    if SOURCES_COLUMN not in frame.columns:
        return np.where(fallback == 0, 1.0, 0.0)
    tf_ns = candle_timeframe_ns(timeframe)
    close_ns = _frame_dates_ns(pd.DataFrame({"date": dates}), "ohlcv") + tf_ns
    tf_oi = infer_timeframe_ns(oi_dates, tf_ns)
    max_age = timeframe_to_ns(oi_max_staleness, key="oi_max_staleness") if oi_max_staleness else 3 * tf_oi
    mask = asof(oi_dates + tf_oi, source_mask(frame), close_ns, max_age)
    return np.where((fallback == 0) & np.isfinite(mask), mask, 0.0)
