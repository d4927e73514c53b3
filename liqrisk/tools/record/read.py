"""Read what ``liqrisk record`` stored: events, gaps, and sums per candle that skip the gaps.

A candle ``[d, d + tf)`` is *covered* by an exchange when it lies inside that
exchange's span and touches none of its gaps. Its sums are then the recorded events in
it (zero when there were none: a covered candle with no event is a real zero). Otherwise
they are NaN: unknown, never zero. The total over exchanges is NaN unless every summed
exchange covers the candle, so a total never mixes a full count with a partial one.
Binance's and OKX's streams are sampled (at most one liquidation per symbol per second),
so their sums are an undercount in bursts; Bybit's are complete.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from liqrisk._util import candle_timeframe_ns
from liqrisk.errors import ConfigError, DataError
from liqrisk.tools.record.store import (
    EVENT_COLUMNS,
    GAPS_FILE,
    SPAN_FILE,
    pair_dirname,
    read_lines,
    store_root,
)

SUM_COLUMNS = ("long_usd", "short_usd", "long_count", "short_count")
GAP_COLUMNS = ("exchange", "start_ms", "end_ms", "reason")
_MS = 1_000_000


@dataclass
class Recorded:
    """One pair's recording.

    ``events``: ``time_ms, exchange, pair, side, price, qty, usd, event_id`` sorted by time
    (units in ``liqrisk.tools.record.store``). ``gaps``: ``exchange, start_ms, end_ms,
    reason``. ``spans``: exchange -> (first covered ms, last covered ms). ``candles`` (when
    a timeframe was given): ``date`` (UTC candle open), ``long_usd, short_usd, long_count,
    short_count`` summed over ``exchanges``, then the same four per exchange
    (``binance_long_usd``...); NaN where not covered.
    """

    pair: str
    exchanges: list[str]
    events: pd.DataFrame
    gaps: pd.DataFrame
    spans: dict[str, tuple[int, int]]
    timeframe: str | None = None
    candles: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def actuals(self) -> pd.DataFrame:
        """Covered candles only, as ``date, long_usd, short_usd``: the per-candle totals that
        ``liqrisk.tools.validate.actuals.actuals_per_candle`` reads (a missing row is missing)."""
        if self.candles is None:
            raise ConfigError("read_recorded(..., timeframe=...) is needed for per-candle actuals.")
        covered = self.candles.dropna(subset=["long_usd", "short_usd"])
        return covered[["date", "long_usd", "short_usd"]].reset_index(drop=True)


def read_events(pair_dir: Path) -> pd.DataFrame:
    """Every stored event of one exchange and pair (closed days, open days, late events)."""
    frames = [pd.read_feather(p) for p in sorted(pair_dir.glob("*.feather"))]
    rows = [row for p in sorted(pair_dir.glob("*.jsonl")) if p.name != GAPS_FILE for row in read_lines(p)]
    if rows:
        frames.append(pd.DataFrame(rows, columns=list(EVENT_COLUMNS)))
    if not frames:
        return _empty_events()
    out = pd.concat(frames, ignore_index=True)[list(EVENT_COLUMNS)]
    out = out.astype({"time_ms": "int64", "price": "float64", "qty": "float64", "usd": "float64"})
    return out.sort_values(["time_ms", "event_id"], kind="stable").reset_index(drop=True)


def _empty_events() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "time_ms" else "float64" if c in ("price", "qty", "usd")
                                      else "object") for c in EVENT_COLUMNS})


def list_exchanges(datadir: str | Path, pair: str) -> list[str]:
    """Exchanges that have a recording of ``pair`` under ``datadir``."""
    root = store_root(datadir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / pair_dirname(pair)).is_dir())


def read_recorded(datadir: str | Path, pair: str, exchanges: list[str] | None = None,
                  timeframe: str | None = None) -> Recorded:
    """Read one pair's recording from ``<datadir>/liqrisk_liquidations`` (or that folder).

    :param exchanges: the exchanges to read and sum (default: every one that recorded ``pair``).
    :param timeframe: also sum per candle, e.g. ``'5m'`` (``Recorded.candles`` / ``.actuals``).
    :raises DataError: nothing recorded for ``pair`` (or for one of ``exchanges``).
    """
    root = store_root(datadir)
    found = list_exchanges(root, pair)
    if not found:
        raise DataError(f"no recorded liquidations of {pair} in {root}; record them with liqrisk record "
                        f"--pairs {pair}" + (f" (the folder has {', '.join(sorted(p.name for p in root.iterdir()))})"
                                             if root.is_dir() else ""))
    exchanges = list(exchanges) if exchanges else found
    missing = [e for e in exchanges if e not in found]
    if missing:
        raise DataError(f"no recording of {pair} from {', '.join(missing)} in {root}; found: {', '.join(found)}.")
    events, gaps, spans = [], [], {}
    for ex in exchanges:
        pdir = root / ex / pair_dirname(pair)
        events.append(read_events(pdir))
        if (pdir / GAPS_FILE).exists():
            gaps.extend({"exchange": ex, **row} for row in read_lines(pdir / GAPS_FILE))
        if (pdir / SPAN_FILE).exists():
            doc = json.loads((pdir / SPAN_FILE).read_text())
            spans[ex] = (int(doc["start_ms"]), int(doc["end_ms"]))
    ev = pd.concat(events, ignore_index=True).sort_values(["time_ms", "exchange"], kind="stable")
    gap_frame = pd.DataFrame(gaps, columns=list(GAP_COLUMNS)).astype({"start_ms": "int64", "end_ms": "int64"})
    rec = Recorded(pair=pair, exchanges=exchanges, events=ev.reset_index(drop=True), gaps=gap_frame, spans=spans,
                   timeframe=timeframe)
    if timeframe is not None:
        rec.candles = candle_sums(rec, timeframe)
    return rec


def covered_candles(dates_ms: np.ndarray, tf_ms: int, span: tuple[int, int] | None, gaps: pd.DataFrame) -> np.ndarray:
    """True for each candle open in ``dates_ms`` whose ``[d, d + tf_ms)`` is inside ``span``
    and touches no gap (``gaps``: ``start_ms, end_ms``)."""
    if span is None:
        return np.zeros(len(dates_ms), dtype=bool)
    ok = (dates_ms >= span[0]) & (dates_ms + tf_ms <= span[1])
    for start, end in zip(gaps["start_ms"].to_numpy(), gaps["end_ms"].to_numpy(), strict=True):
        ok &= ~((dates_ms < end) & (dates_ms + tf_ms > start))
    return ok


def candle_sums(rec: Recorded, timeframe: str) -> pd.DataFrame:
    """Per-candle sums of ``rec`` at ``timeframe`` (see ``Recorded.candles``)."""
    tf_ms = candle_timeframe_ns(timeframe) // _MS
    if not rec.spans:
        raise DataError(f"the recording of {rec.pair} has no span.json: nothing was ever connected, so no candle "
                        "is known.")
    first = min(s for s, _ in rec.spans.values()) // tf_ms * tf_ms
    last = max(e for _, e in rec.spans.values())
    dates = np.arange(first, max(last, first + tf_ms), tf_ms, dtype=np.int64)
    out = {"date": pd.to_datetime(dates, unit="ms", utc=True)}
    totals = {c: np.zeros(len(dates)) for c in SUM_COLUMNS}
    all_covered = np.ones(len(dates), dtype=bool)
    for ex in rec.exchanges:
        ev = rec.events[rec.events["exchange"] == ex]
        pos = (ev["time_ms"].to_numpy() - first) // tf_ms
        inside = (pos >= 0) & (pos < len(dates))
        covered = covered_candles(dates, tf_ms, rec.spans.get(ex), rec.gaps[rec.gaps["exchange"] == ex])
        all_covered &= covered
        for side in ("long", "short"):
            sel = inside & (ev["side"].to_numpy() == side)
            usd = np.bincount(pos[sel], weights=ev["usd"].to_numpy()[sel], minlength=len(dates))
            count = np.bincount(pos[sel], minlength=len(dates)).astype(np.float64)
            for name, values in ((f"{side}_usd", usd), (f"{side}_count", count)):
                totals[name] += values
                out[f"{ex}_{name}"] = np.where(covered, values, np.nan)
    frame = pd.DataFrame({"date": out.pop("date"),
                          **{c: np.where(all_covered, totals[c], np.nan) for c in SUM_COLUMNS}, **out})
    for c in frame.columns:
        if c.endswith("_count"):
            frame[c] = frame[c].astype("Int64")
    return frame


def candle_file(datadir: str | Path, pair: str, timeframe: str) -> Path:
    """``<datadir>/liqrisk_liquidations/<PAIR>-<tf>-liquidations.feather`` (freqtrade's naming)."""
    return store_root(datadir) / f"{pair_dirname(pair)}-{timeframe}-liquidations.feather"


def write_candle_sums(datadir: str | Path, pair: str, timeframes: list[str],
                      exchanges: list[str] | None = None) -> list[Path]:
    """Write ``candle_file`` for each timeframe (a derived file, rewritten each time; the
    event store is the record). Returns the paths written."""
    rec = read_recorded(datadir, pair, exchanges)
    paths = []
    for tf in timeframes:
        path = candle_file(datadir, pair, tf)
        tmp = path.with_name(path.name + ".tmp")
        candle_sums(rec, tf).to_feather(tmp)
        tmp.replace(path)
        paths.append(path)
    return paths
