"""The ``liqrisk download-oi`` job: Binance archive days -> verified cache -> freqtrade files.

Per pair: every day of the range is fetched (a few at a time) into the cache, the verified
days are parsed into 5-minute snapshots, and the rows inside ``[start, stop)`` are merged into
the pair's ``open_interest`` files (one per timeframe) and its long/short statistics file
(``store.py``). A file is rewritten only when rows were added, so a second run over the same
range changes nothing. A run that is stopped part-way keeps the days it verified; the next
run skips them and writes complete files.

Bad days (404, checksum mismatch, corrupt zip, retries exhausted) are logged once each, as
one warning naming the day (consecutive days of the same kind share one line), and stay gaps
in the files, which the engine flags as it flags any OI gap (``liq_oi_fallback``).
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from liqrisk.errors import ConfigError, DataError
from liqrisk.tools.download import fetch as F
from liqrisk.tools.download import metrics as M
from liqrisk.tools.download import store as S

logger = logging.getLogger(__name__)

#: Cache of verified archive files, under the exchange data folder (archive layout inside).
CACHE_DIR = "liqrisk_archive"
DAY_MS = 86_400_000

_WHY = {
    F.MISSING: "not in the archive (404)",
    F.MISMATCH: "checksum mismatch",
    F.BAD_ZIP: "corrupt zip",
    F.FAILED: "download failed; run again to resume",
}


@dataclass
class DownloadRequest:
    """What to download. ``datadir`` is the exchange data folder (the one holding ``futures/``,
    e.g. ``user_data/data/binance``); ``start_ms``/``stop_ms`` bound the rows (epoch ms UTC,
    stop excluded); ``data_format`` is freqtrade's ``dataformat_ohlcv``."""

    pairs: list[str]
    start_ms: int
    stop_ms: int
    datadir: Path
    data_format: str = "feather"
    timeframes: tuple[str, ...] = ("5m",)
    archive_url: str = F.DEFAULT_ARCHIVE_URL
    workers: int = 4
    settings: F.FetchSettings = field(default_factory=F.FetchSettings)
    cache_dir: Path | None = None

    @property
    def cache(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else Path(self.datadir) / CACHE_DIR


@dataclass
class PairReport:
    """What one pair's run did. ``added``/``rows``/``conflicts`` are per file: timeframes and
    ``"oi_metrics"``; ``problems`` are the days that stay gaps."""

    pair: str
    symbol: str
    days: int
    status: Counter = field(default_factory=Counter)
    problems: list[F.DayResult] = field(default_factory=list)
    added: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    conflicts: dict[str, int] = field(default_factory=dict)


def linear_symbol(pair: str, covers: str) -> str:
    """ccxt linear perpetual -> exchange symbol: ``BTC/USDT:USDT`` -> ``BTCUSDT`` (Binance USD-M
    and Bybit linear spell it the same); ``covers`` says what the source holds, for the error."""
    base, slash, rest = pair.partition("/")
    quote, colon, settle = rest.partition(":")
    if not (slash and colon and base and quote) or settle != quote:
        raise ConfigError(f"--pairs {pair!r}: {covers}; write the pair as freqtrade's futures pair "
                          "BASE/QUOTE:QUOTE, e.g. BTC/USDT:USDT.")
    return f"{base}{quote}".upper()


def archive_symbol(pair: str) -> str:
    """ccxt USD-M perpetual -> archive symbol: ``BTC/USDT:USDT`` -> ``BTCUSDT``."""
    return linear_symbol(pair, "the archive's metrics cover USD-M perpetuals")


def archive_days(start_ms: int, stop_ms: int, today: date) -> list[date]:
    """Days whose file can hold rows in [start, stop): up to yesterday, the last published day."""
    first = datetime.fromtimestamp(start_ms / 1000, tz=UTC).date()
    last = datetime.fromtimestamp((stop_ms - 1) / 1000, tz=UTC).date()
    last = min(last, today - timedelta(days=1))
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _runs(results: list[F.DayResult]) -> list[list[F.DayResult]]:
    """Consecutive days with the same status, in day order."""
    runs: list[list[F.DayResult]] = []
    for r in sorted(results, key=lambda r: r.day):
        if runs and runs[-1][-1].status == r.status and runs[-1][-1].day + timedelta(days=1) == r.day:
            runs[-1].append(r)
        else:
            runs.append([r])
    return runs


def _warn_gaps(pair: str, problems: list[F.DayResult]) -> None:
    for run in _runs(problems):
        first, last = run[0], run[-1]
        days = first.day.isoformat() if len(run) == 1 else f"{first.day} … {last.day} ({len(run)} days)"
        detail = f" ({first.detail})" if first.detail and first.status != F.MISSING else ""
        logger.warning("%s %s: %s%s; open interest left as a gap", pair, days, _WHY[first.status], detail)


def _fetch_all(req: DownloadRequest, symbol: str, days: list[date], advance) -> list[F.DayResult]:
    workers = max(1, min(req.workers, len(days)))
    results: list[F.DayResult] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="download-oi") as pool:
        futures = [pool.submit(F.fetch_day, req.archive_url, req.cache, symbol, d, req.settings) for d in days]
        try:
            for fut in as_completed(futures):
                results.append(fut.result())
                advance()
                if len(results) == workers and all(r.status == F.FAILED and not r.answered for r in results):
                    raise DataError(f"cannot reach the archive at {req.archive_url}: {results[0].detail}. "
                                    "Check --archive-url and the network; days verified before stay cached.")
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    return results


def _snapshots(symbol: str, results: list[F.DayResult], req: DownloadRequest) -> tuple[pd.DataFrame, list[F.DayResult]]:
    parts, bad = [], []
    for r in sorted(results, key=lambda r: r.day):
        if r.path is None:
            continue
        try:
            parts.append(M.read_metrics(r.path.read_bytes(), symbol))
        except M.BadMetrics as e:
            bad.append(F.DayResult(r.symbol, r.day, F.BAD_ZIP, detail=str(e)))
    snap = M.combine(parts)
    slot = snap["slot_ms"].to_numpy(dtype=np.int64)
    snap = snap[(slot >= req.start_ms) & (slot < req.stop_ms)].reset_index(drop=True)
    return snap, bad


def _write(req: DownloadRequest, pair: str, snap: pd.DataFrame, report: PairReport) -> None:
    for tf in req.timeframes:
        merged, added, conflicts = S.merge(S.load_oi(req.datadir, req.data_format, pair, tf), M.oi_candles(snap, tf))
        if added:
            S.store_oi(req.datadir, req.data_format, pair, tf, merged)
        report.added[tf], report.rows[tf], report.conflicts[tf] = added, len(merged), conflicts
    merged, added, conflicts = S.merge(S.load_ratios(req.datadir, pair), M.ratio_rows(snap))
    if added:
        S.store_ratios(req.datadir, pair, merged)
    report.added["oi_metrics"], report.rows["oi_metrics"], report.conflicts["oi_metrics"] = added, len(merged), conflicts
    for name, n in report.conflicts.items():
        if n:
            logger.warning("%s %s: %d rows already in the file differ from the archive; the file's values kept",
                           pair, name, n)


def download_open_interest(req: DownloadRequest, *, progress: bool = True, today: date | None = None) -> list[PairReport]:
    """Run the job (see the module docstring). ``today`` (UTC) defaults to the real date.

    :raises ConfigError: a pair that is not a USD-M perpetual, a bad timeframe, an empty range.
    :raises DataError: the first days of a pair all failed without an answer (no server there).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    for tf in req.timeframes:
        M.timeframe_ms(tf)
    symbols = [archive_symbol(p) for p in req.pairs]
    if req.stop_ms <= req.start_ms:
        raise ConfigError("--timerange: the end must come after the start.")
    today = today or datetime.now(tz=UTC).date()
    days = archive_days(req.start_ms, req.stop_ms, today)
    if not days:
        raise ConfigError(f"--timerange starts on or after today ({today}, UTC); the archive publishes a day's "
                          "file the day after.")
    reports = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task("download-oi", total=len(days) * len(symbols))
        for pair, symbol in zip(req.pairs, symbols, strict=True):
            bar.update(task, description=f"{symbol} metrics")
            results = _fetch_all(req, symbol, days, lambda: bar.advance(task))
            snap, unreadable = _snapshots(symbol, results, req)
            final = {r.day: r for r in results} | {r.day: r for r in unreadable}
            report = PairReport(pair, symbol, len(days), Counter(r.status for r in final.values()))
            report.problems = sorted((r for r in final.values() if r.path is None), key=lambda r: r.day)
            _warn_gaps(pair, report.problems)
            _write(req, pair, snap, report)
            reports.append(report)
    return reports
