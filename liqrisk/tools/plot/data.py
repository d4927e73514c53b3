"""Data behind the pictures: heatmaps for several windows on one grid, confluence,
liquidation events, candles resampled for drawing, output-path checks, and the model
config and quote currency every picture uses.

No drawing here; ``liqrisk.tools.plot.heatmap_static`` / ``heatmap_html`` and
``liqrisk.tools.plot.liqmap`` draw.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from liqrisk._util import timeframe_to_ns
from liqrisk.core.grids import Heatmap, liquidation_heatmap
from liqrisk.errors import ConfigError, DataError

logger = logging.getLogger("liqrisk")

#: ``progress(description, done, total)``: called before each step of a long job.
Progress = Callable[[str, int, int], None]
SIDES = ("both", "long", "short", "split")
VIEWS = ("stack", "confluence")
FORMATS = (".png", ".html", ".svg", ".pdf")
EVENT_COLUMNS = ("date", "side", "price", "usd")


def no_progress(description: str, done: int, total: int) -> None:
    """The default progress callback: does nothing."""


@dataclass
class HeatmapSet:
    """Heatmaps of one pair and time range for several windows, on one price grid."""

    pair: str
    timeframe: str
    heatmaps: list[Heatmap]
    events: pd.DataFrame | None  # date (UTC), side ('long'/'short'), price, usd
    incomplete_history: bool  # less history than the longest window before the first column

    @property
    def dates(self) -> pd.DatetimeIndex:
        return self.heatmaps[0].dates

    @property
    def price_edges(self) -> np.ndarray:
        return self.heatmaps[0].price_edges


def check_output(path: str | Path, formats: tuple[str, ...] = FORMATS) -> Path:
    """Make sure ``path`` can be written before any work is done; create its folder.

    :raises ConfigError: unknown extension, folder that cannot be created, or no write permission.
    """
    path = Path(path)
    if path.suffix.lower() not in formats:
        raise ConfigError(
            f"output file {path}: unknown picture format {path.suffix!r}; use one of {', '.join(formats)}."
        )
    if path.is_dir():
        raise ConfigError(f"output file {path} is a folder; give a file name such as {path / 'heatmap.png'}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"output file {path}: cannot create folder {path.parent}: {e.strerror or e}.") from e
    target = path if path.exists() else path.parent
    if not os.access(target, os.W_OK):
        raise ConfigError(f"output file {path}: no permission to write to {target}; choose another path.")
    return path


def heatmap_set(
    market,
    windows: list[str],
    *,
    config=None,
    start=None,
    end=None,
    price_bins: int = 400,
    price_range: tuple[float, float] | None = None,
    events: pd.DataFrame | None = None,
    progress: Progress = no_progress,
    step: int = 0,
    total_steps: int | None = None,
) -> HeatmapSet:
    """Dense heatmaps of ``market`` (a ``liqrisk.tools.datadir.MarketData``) for each window.

    Every window uses the same price grid (default: the range's lowest low and highest
    high, widened by 10%) so panels line up. ``start``/``end`` default to the first
    candle with a full longest window of history before it, and the last candle.

    :raises DataError: a window longer than all the data loaded, or no candles in range.
    """
    if not windows:
        raise ConfigError("give at least one window, e.g. windows=['1d'].")
    ohlcv = market.ohlcv
    dates = pd.DatetimeIndex(pd.to_datetime(ohlcv["date"], utc=True))
    tf_ns = timeframe_to_ns(market.timeframe)
    span_ns = int(dates[-1].value - dates[0].value) + tf_ns
    longest = max(timeframe_to_ns(w, key="window") for w in windows)
    if longest > span_ns:
        raise DataError(
            f"window {max(windows, key=timeframe_to_ns)} is longer than the data "
            f"({pd.Timedelta(span_ns, 'ns')} of {market.timeframe} candles from {dates[0]:%Y-%m-%d %H:%M} to "
            f"{dates[-1]:%Y-%m-%d %H:%M}); use a shorter window or download more history."
        )
    if start is None:
        # First candle whose window is complete: its own history covers the longest window.
        first = int(np.searchsorted(dates.asi8, dates.asi8[0] + longest - tf_ns, side="left"))
        start = dates[min(first, len(dates) - 1)]
    start = pd.Timestamp(start)
    start = start.tz_localize("UTC") if start.tz is None else start
    if start > dates[-1] or (end is not None and pd.Timestamp(end) < start):
        raise DataError(
            f"no {market.timeframe} candles from {start:%Y-%m-%d %H:%M}"
            + (f" to {pd.Timestamp(end):%Y-%m-%d %H:%M}" if end is not None else "")
            + f"; the data covers {dates[0]:%Y-%m-%d %H:%M} to {dates[-1]:%Y-%m-%d %H:%M} UTC. "
            "Choose a timerange inside it."
        )
    incomplete = (start.value - dates[0].value) + tf_ns < longest
    if incomplete:
        logger.warning(
            "liqrisk: only %s of history before %s, less than the %s window; the first columns "
            "show fewer levels than later ones.",
            pd.Timedelta(start.value - dates[0].value, "ns"),
            start,
            pd.Timedelta(longest, "ns"),
        )
    total_steps = total_steps or len(windows)
    maps = []
    for i, window in enumerate(windows):
        progress(f"heatmap {window}", step + i, total_steps)
        hm = liquidation_heatmap(
            ohlcv,
            **market.engine_inputs(),
            config=config,
            window=window,
            start=start,
            end=end,
            price_bins=price_bins,
            price_range=price_range,
        )
        price_range = (float(hm.price_edges[0]), float(hm.price_edges[-1]))
        maps.append(hm)
    if events is not None:
        events = events[
            (events["date"] >= maps[0].dates[0])
            & (events["date"] < maps[0].dates[-1] + pd.Timedelta(tf_ns, "ns"))
        ]
    return HeatmapSet(
        pair=market.pair,
        timeframe=market.timeframe,
        heatmaps=maps,
        events=events,
        incomplete_history=bool(incomplete),
    )


def side_matrix(hm: Heatmap, side: str) -> np.ndarray:
    """[T, P] USD for ``side``: 'long', 'short' or 'both' (their sum)."""
    if side == "long":
        return hm.long_usd
    if side == "short":
        return hm.short_usd
    if side == "both":
        return hm.total_usd
    raise ConfigError(f"side={side!r} must be one of both, long, short.")


def confluence(heatmaps: list[Heatmap], side: str = "both") -> np.ndarray:
    """[T, P] cross-window confluence in [0, 1].

    Per candle, side and window, each bin's USD is divided by that window's largest bin
    on that side; the score is the geometric mean of these ratios over the windows, as
    in the ``liq_confluence_*`` features. 1 = the strongest bin of every window; 0 = a
    bin that is empty in at least one window. With ``side="both"`` each cell takes the
    larger of its long and short scores (longs and shorts rarely share a price).
    """
    if side == "both":
        return np.maximum(confluence(heatmaps, "long"), confluence(heatmaps, "short"))
    log_sum = None
    for hm in heatmaps:
        usd = side_matrix(hm, side)
        top = usd.max(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(top > 0, usd / np.where(top > 0, top, 1.0), 0.0)
            log_r = np.log(ratio)
        log_sum = log_r if log_sum is None else log_sum + log_r
    return np.exp(log_sum / len(heatmaps))


def load_events(path: str | Path, *, pair: str | None = None, exchanges: list[str] | None = None) -> pd.DataFrame:
    """Liquidation events from a parquet, feather, CSV or JSON file, or from a folder that
    ``liqrisk record`` wrote (a datadir or its ``liqrisk_liquidations`` folder).

    File columns: ``date`` (UTC; epoch milliseconds or a date string), ``side`` ('long' or
    'short': the liquidated position's side), ``price`` (quote currency), ``usd``
    (quote currency); an optional ``pair`` column is filtered on ``pair``. The format
    of ``liqrisk simulate``'s ``liqrisk_truth/liquidations.parquet``.

    A recorded folder needs ``pair``; ``exchanges`` picks which recordings to overlay
    (default: every one that recorded ``pair``). Recorded gaps simply have no events.
    Returns ``date`` (UTC), ``side``, ``price``, ``usd``, sorted by date.
    """
    path = Path(path)
    if path.is_dir():
        return _recorded_events(path, pair, exchanges)
    if exchanges:
        raise ConfigError(f"exchanges={exchanges} goes with a recorded liquidations folder, not the file {path}.")
    if not path.is_file():
        raise ConfigError(f"events file {path}: no such file.")
    readers = {
        ".parquet": pd.read_parquet,
        ".feather": pd.read_feather,
        ".csv": pd.read_csv,
        ".json": pd.read_json,
    }
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise ConfigError(f"events file {path}: unknown format; use .parquet, .feather, .csv or .json.")
    try:
        frame = reader(path)
    except Exception as e:  # pandas raises many kinds for unreadable files
        raise DataError(f"events file {path}: cannot read it ({e}).") from e
    missing = [c for c in EVENT_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"events file {path}: missing column(s) {missing}; need date, side ('long'/'short'), "
            f"price and usd; got {list(frame.columns)}."
        )
    if pair is not None and "pair" in frame.columns:
        frame = frame[frame["pair"].astype(str) == pair]
    date = frame["date"]
    date = (
        pd.to_datetime(date, unit="ms", utc=True)
        if pd.api.types.is_numeric_dtype(date)
        else pd.to_datetime(date, utc=True)
    )
    side = frame["side"].astype(str).str.lower()
    bad = ~side.isin(["long", "short"])
    if bad.any():
        raise DataError(
            f"events file {path}: side must be 'long' or 'short'; found {sorted(set(side[bad]))[:5]}."
        )
    out = pd.DataFrame(
        {
            "date": date.to_numpy(),
            "side": side.to_numpy(),
            "price": pd.to_numeric(frame["price"]).to_numpy(dtype=float),
            "usd": pd.to_numeric(frame["usd"]).to_numpy(dtype=float),
        }
    )
    return out.sort_values("date", kind="stable").reset_index(drop=True)


def _recorded_events(folder: Path, pair: str | None, exchanges: list[str] | None) -> pd.DataFrame:
    """``load_events`` of a ``liqrisk record`` folder: its events of ``pair``, summed over ``exchanges``."""
    from liqrisk.tools.record.read import read_recorded

    if pair is None:
        raise ConfigError(f"events folder {folder}: a recorded folder needs the pair to read.")
    rec = read_recorded(folder, pair, exchanges)
    logger.info("liqrisk: %d recorded liquidations of %s from %s (%d recorded gaps: no events there, not zero).",
                len(rec.events), pair, ", ".join(rec.exchanges), len(rec.gaps))
    ev = rec.events
    out = pd.DataFrame({
        "date": pd.to_datetime(ev["time_ms"].to_numpy(np.int64), unit="ms", utc=True),
        "side": ev["side"].astype(str).to_numpy(),
        "price": ev["price"].to_numpy(float),
        "usd": ev["usd"].to_numpy(float),
    })
    return out.sort_values("date", kind="stable").reset_index(drop=True)


def truth_events_path(datadir: str | Path) -> Path | None:
    """``<datadir>/liqrisk_truth/liquidations.parquet`` when ``liqrisk simulate`` wrote it."""
    path = Path(datadir) / "liqrisk_truth" / "liquidations.parquet"
    return path if path.is_file() else None


def resample_candles(candles: pd.DataFrame, ends: np.ndarray) -> pd.DataFrame:
    """OHLCV aggregated over blocks of rows ``(ends[i-1], ends[i]]`` (the first block starts at row 0).

    ``date`` is the block's first open time, ``open`` its first open, ``high``/``low``
    the extremes, ``close`` the last close: the candle a longer timeframe would show.
    """
    ends = np.asarray(ends, dtype=np.int64)
    starts = np.concatenate(([0], ends[:-1] + 1))
    high = np.maximum.reduceat(candles["high"].to_numpy(dtype=float), starts)
    low = np.minimum.reduceat(candles["low"].to_numpy(dtype=float), starts)
    return pd.DataFrame(
        {
            "date": pd.to_datetime(candles["date"], utc=True).to_numpy()[starts],
            "open": candles["open"].to_numpy(dtype=float)[starts],
            "high": high,
            "low": low,
            "close": candles["close"].to_numpy(dtype=float)[ends],
        }
    )


#: Candle durations (minutes) that merged candles snap to, so a legend reads "4h candles".
NICE_MINUTES = (1, 5, 15, 30, 60, 120, 240, 360, 720, 1440, 2880, 10080)


def block_ends(n: int, max_blocks: int, timeframe_ns: int | None = None) -> np.ndarray:
    """Last row of each of at most ``max_blocks`` equal blocks of ``n`` rows (the last block may be shorter).

    With ``timeframe_ns`` the block length is rounded up to a whole nice duration
    (``NICE_MINUTES``) when one fits, e.g. 48 × 5m = 4h rather than 41 × 5m.
    """
    k = max(1, -(-n // max(1, max_blocks)))
    if timeframe_ns:
        for minutes in NICE_MINUTES:
            rows, rest = divmod(minutes * 60 * 10**9, timeframe_ns)
            if not rest and rows >= k:
                k = int(rows)
                break
    ends = np.arange(k - 1, n, k)
    return ends if len(ends) and ends[-1] == n - 1 else np.append(ends, n - 1)


def quote_currency(pair: str) -> str:
    """'BTC/USDT:USDT' -> 'USDT'."""
    return pair.split("/")[-1].split(":")[0] if "/" in pair else "USD"


def model_config(config: str | Path | None, windows: list[str]) -> dict:
    """liqrisk model config: the freqtrade config's optional ``"liqrisk"`` section, with ``windows``."""
    from liqrisk.tools.datadir import read_config

    section = (read_config(config).get("liqrisk") or {}) if config else {}
    if not isinstance(section, dict):
        raise ConfigError(f"config file {config}: the 'liqrisk' section must be an object of model keys.")
    return {**section, "windows": list(dict.fromkeys(windows))}
