"""The offline run's market data: simulate it into a freqtrade datadir unless it is there already.

``ensure_data`` simulates the market into ``<datadir>/binance`` unless matching files are there
(``liqrisk_truth/meta.json`` records seed, days, end and pairs of a simulated datadir); files
from elsewhere (``freqtrade download-data``) are used as they are. ``backtest_timerange`` picks
the whole days of that data a backtest can use after its warm-up.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from liqrisk.tools.demo.errors import OfflineError

DEFAULT_PAIRS: tuple[str, ...] = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "XRP/USDT:USDT")
DEFAULT_DAYS = 90
DEFAULT_SEED = 42
#: freqtrade's exchange folder under the datadir; the local exchange replays Binance USD-M futures.
EXCHANGE = "binance"
#: Days of data before the backtest starts, at most: the strategies' startup candles (the ``1w``
#: window) come from there. Shorter datadirs keep a third of their span.
WARMUP_DAYS = 8


@dataclass
class DataInfo:
    """What is in the datadir the run uses.

    ``start``/``end``: UTC span covered by every pair's 5m futures candles (``end`` exclusive).
    ``action``: "simulated" (written now), "reused" (simulated earlier with the same settings)
    or "existing" (files not written by ``liqrisk simulate``; used as they are).
    """

    datadir: Path
    pairs: list[str]
    start: datetime
    end: datetime
    action: str
    reason: str
    seconds: float = 0.0


def _pair_file(futures_dir: Path, pair: str, timeframe: str, kind: str) -> Path:
    from liqrisk.tools.sim.writer import data_filename

    return data_filename(futures_dir, pair, timeframe, kind)


def simulated_matches(datadir: Path, pairs: Sequence[str], *, days: int, seed: int, end: str | None) -> str | None:
    """None when ``datadir`` holds a simulation with these settings (and its 5m files), else why not."""
    from liqrisk.tools.sim.specs import COHORTS_PER_MINUTE
    from liqrisk.tools.sim.writer import MODEL_VERSION, parse_end

    exchange_dir = Path(datadir) / EXCHANGE
    meta_path = exchange_dir / "liqrisk_truth" / "meta.json"
    if not meta_path.is_file():
        return f"no simulation in {exchange_dir} yet"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return f"{meta_path} is unreadable: {e}"
    want = {"model_version": MODEL_VERSION, "seed": seed, "days": days, "end_ms": parse_end(end)}
    for key, value in want.items():
        if meta.get(key) != value:
            return f"it was simulated with {key}={meta.get(key)!r}, this run wants {value!r}"
    # The main job simulates at the default density; a denser validation run is another
    # market (older metas predate the key and were all made at the default).
    density = meta.get("cohorts_per_minute", COHORTS_PER_MINUTE)
    if density != COHORTS_PER_MINUTE:
        return f"it was simulated with cohorts_per_minute={density!r}, this run wants {COHORTS_PER_MINUTE!r}"
    missing = [p for p in pairs if p not in meta.get("pairs", [])]
    if missing:
        return f"pairs {missing} were not simulated"
    for pair in pairs:
        for tf, kind in (("5m", "futures"), ("1h", "funding_rate"), ("5m", "open_interest"), ("1h", "mark")):
            path = _pair_file(exchange_dir / "futures", pair, tf, kind)
            if not path.is_file():
                return f"{path} is missing"
    return None


def data_span(datadir: Path, pairs: Sequence[str]) -> tuple[datetime, datetime]:
    """UTC span (start, exclusive end) covered by the 5m futures candles of every pair."""
    import pandas as pd

    futures_dir = Path(datadir) / EXCHANGE / "futures"
    starts, ends = [], []
    for pair in pairs:
        path = _pair_file(futures_dir, pair, "5m", "futures")
        if not path.is_file():
            raise OfflineError(f"{path} is missing; run `liqrisk simulate --datadir {datadir}` or drop {pair}.")
        dates = pd.read_feather(path, columns=["date"])["date"]
        if dates.empty:
            raise OfflineError(f"{path} has no candles.")
        starts.append(dates.iloc[0].to_pydatetime())
        ends.append(dates.iloc[-1].to_pydatetime() + timedelta(minutes=5))
    start, end = max(starts), min(ends)
    if end <= start:
        raise OfflineError(f"the pairs' data in {futures_dir} do not overlap in time.")
    return start.astimezone(UTC), end.astimezone(UTC)


def ensure_data(
    datadir: Path | str,
    pairs: Sequence[str] = DEFAULT_PAIRS,
    *,
    days: int = DEFAULT_DAYS,
    seed: int = DEFAULT_SEED,
    end: str | None = None,
    force: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> DataInfo:
    """Simulate ``pairs`` into ``datadir`` unless the same simulation (or other data for every pair) is there.

    A datadir simulated with other settings is simulated again (its files are overwritten). Files
    not written by ``liqrisk simulate`` (e.g. from ``freqtrade download-data``) are never
    overwritten: they are used as they are unless ``force``.
    :param progress: ``progress(pair, minutes_done)`` while simulating, from worker threads.
    """
    from liqrisk.tools.sim.writer import simulate_datadir

    datadir = Path(datadir)
    pairs = list(dict.fromkeys(pairs))
    why = simulated_matches(datadir, pairs, days=days, seed=seed, end=end)
    has_meta = (datadir / EXCHANGE / "liqrisk_truth" / "meta.json").is_file()
    futures_dir = datadir / EXCHANGE / "futures"
    all_files = all(_pair_file(futures_dir, p, "5m", "futures").is_file() for p in pairs)
    if not force and why is None:
        start, stop = data_span(datadir, pairs)
        return DataInfo(datadir, pairs, start, stop, "reused",
                        f"{datadir} already holds the simulation (seed {seed}, {days} days, {', '.join(pairs)}); "
                        "not simulating again (--resimulate forces it)")
    if not force and not has_meta and all_files:
        start, stop = data_span(datadir, pairs)
        return DataInfo(datadir, pairs, start, stop, "existing",
                        f"files in {futures_dir} were not written by liqrisk simulate; using them as they are")
    reason = "--resimulate given" if force else why
    t0 = time.perf_counter()
    try:
        simulate_datadir(datadir, pairs, days=days, seed=seed, end=end, exchange=EXCHANGE, progress=progress)
    except OSError as e:
        raise OfflineError(f"cannot write to {datadir}: {e.strerror or e}; choose a writable datadir.") from e
    start, stop = data_span(datadir, pairs)
    return DataInfo(datadir, pairs, start, stop, "simulated", reason or "", time.perf_counter() - t0)


def backtest_timerange(start: datetime, end: datetime, *, warmup_days: float = WARMUP_DAYS) -> str:
    """freqtrade ``--timerange`` inside [start, end): whole days, after a warm-up for startup candles.

    Example: data 2024-12-31 → 2025-03-31 gives ``20250108-20250331`` (8 warm-up days). A span
    shorter than 24 days keeps a third of it for the warm-up (10 days → 4 days: ``20250325-20250331``).
    """
    span_days = (end - start).total_seconds() / 86_400
    warm = min(warmup_days, span_days / 3)
    first = start + timedelta(days=warm)
    first_day = datetime(first.year, first.month, first.day, tzinfo=UTC)
    if first_day < first:
        first_day += timedelta(days=1)
    last_day = datetime(end.year, end.month, end.day, tzinfo=UTC)
    if last_day <= first_day:
        raise OfflineError(f"data from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} is too short to backtest; "
                           "simulate more days.")
    return f"{first_day:%Y%m%d}-{last_day:%Y%m%d}"
