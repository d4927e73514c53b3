"""``liqrisk download-oi --source bybit``: Bybit's open-interest history into freqtrade's files.

Bybit's v5 API serves a linear perpetual's open interest back to its listing
(``GET /v5/market/open-interest?category=linear&symbol=BTCUSDT&intervalTime=5min``: at most
200 snapshots per page, newest first, older pages through ``nextPageCursor``), unlike
Binance's REST API, which keeps about 30 days. This module pages that history over the asked
range, once per pair, at the coarsest Bybit interval that divides every asked timeframe.

**Units and stamps.** A snapshot stamped T is the open interest at T, in base coins for a
linear contract (ccxt's ``openInterestAmount``); Bybit gives no USD value. The value written
here, ``open_interest_value``, is the amount times the mark price at T: the close of the
mark-price candle of the same interval that closes at T (``/v5/market/mark-price-kline``, 1000
candles a page), or the open of the one starting at T when there is none (right after listing).
Where neither exists the value stays NaN, and the engine converts the amount with the candle's
close instead. Rows are written as the archive source writes them
(``metrics.oi_candles``, ``store``): a row at D is the snapshot at D, used from D + timeframe
on, so no lookahead; a coarser timeframe keeps the snapshot at each of its candle opens.
``freqtrade download-data --exchange bybit --candle-types open_interest`` writes the same
stamps with NaN values, so both sources can share a file.

**Merging.** Rows already in a file are kept; dates it lacks are added (``store.merge``). A row
the file holds with the same amount but no value (a ``download-data`` row) gets the value.

**Failures.** HTTP 429, 403 (Bybit's IP limit), 5xx, timeouts, connection errors and the
retCodes 10006 ("Too many visits!") and 10016 (system error) are retried with exponential
backoff (``fetch.FetchSettings``). When the retries run out, the pages fetched so far are
still merged, the pair is reported as incomplete and the command exits 1: run it again.
Any other retCode (a symbol Bybit does not list, a bad parameter) stops with its message.
"""

from __future__ import annotations

import http.client
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from liqrisk.errors import ConfigError, DataError
from liqrisk.tools.download import metrics as M
from liqrisk.tools.download import store as S
from liqrisk.tools.download.fetch import MAX_BACKOFF_S, USER_AGENT, FetchSettings
from liqrisk.tools.download.job import linear_symbol

logger = logging.getLogger(__name__)

DEFAULT_BYBIT_URL = "https://api.bybit.com"
OI_PATH = "/v5/market/open-interest"
MARK_PATH = "/v5/market/mark-price-kline"
OI_PAGE = 200
KLINE_PAGE = 1000
#: Bybit's ``intervalTime`` values and the kline ``interval`` of the same length, by timeframe.
INTERVALS: dict[str, tuple[str, str]] = {
    "5m": ("5min", "5"), "15m": ("15min", "15"), "30m": ("30min", "30"),
    "1h": ("1h", "60"), "4h": ("4h", "240"), "1d": ("1d", "D"),
}
RETRY_STATUSES = frozenset({403, 408, 429, 500, 502, 503, 504})
RETRY_CODES = frozenset({10006, 10016})


class BybitUnavailable(Exception):
    """Retries ran out for one request; the message says what the last attempt saw."""


@dataclass
class BybitRequest:
    """What to download. ``datadir`` holds ``futures/`` (e.g. ``user_data/data/bybit``);
    ``start_ms``/``stop_ms`` bound the snapshots (epoch ms UTC, stop excluded); ``base_url`` is
    the API host (``https://api.bybit.com``, or the local exchange)."""

    pairs: list[str]
    start_ms: int
    stop_ms: int
    datadir: Path
    data_format: str = "feather"
    timeframes: tuple[str, ...] = ("5m",)
    base_url: str = DEFAULT_BYBIT_URL
    settings: FetchSettings = field(default_factory=FetchSettings)


@dataclass
class BybitReport:
    """One pair's run: snapshots fetched, per timeframe rows added / in the file / filled with a
    value / differing from the file; ``error`` when the retries ran out (the run is incomplete)."""

    pair: str
    symbol: str
    interval: str
    snapshots: int = 0
    first_ms: int | None = None
    added: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    filled: dict[str, int] = field(default_factory=dict)
    conflicts: dict[str, int] = field(default_factory=dict)
    error: str = ""

    def summary(self) -> str:
        first = "" if self.first_ms is None else f" from {pd.Timestamp(self.first_ms, unit='ms', tz='UTC'):%Y-%m-%d %H:%M}"
        files = ", ".join(f"{tf} +{self.added[tf]:,} rows ({self.rows[tf]:,} in file)" for tf in self.added)
        tail = f"; INCOMPLETE: {self.error}" if self.error else ""
        return f"{self.pair}: {self.snapshots:,} Bybit {self.interval} snapshots{first}; {files}{tail}"


def bybit_symbol(pair: str) -> str:
    """ccxt linear perpetual -> Bybit symbol: ``BTC/USDT:USDT`` -> ``BTCUSDT``."""
    return linear_symbol(pair, "Bybit's linear open interest covers USDT/USDC perpetuals")


def fetch_interval(timeframes: tuple[str, ...]) -> str:
    """The coarsest Bybit interval (as a timeframe) dividing every timeframe: (5m, 1h) -> 5m."""
    wanted = [M.timeframe_ms(tf) for tf in timeframes]
    for tf in sorted(INTERVALS, key=M.timeframe_ms, reverse=True):
        if all(w % M.timeframe_ms(tf) == 0 for w in wanted):
            return tf
    raise ConfigError(f"--timeframes {' '.join(timeframes)}: Bybit's open interest comes at "  # pragma: no cover
                      f"{', '.join(INTERVALS)}; give multiples of one of them.")


def get_result(base_url: str, path: str, params: dict, settings: FetchSettings) -> dict:
    """``result`` of a v5 GET. Retries what is worth retrying (module docstring).

    :raises BybitUnavailable: retries ran out.
    :raises DataError: Bybit refused the request (retCode other than 0 and the retried ones).
    """
    url = f"{base_url.rstrip('/')}{path}?{urllib.parse.urlencode(params)}"
    last = ""
    for attempt in range(settings.retries + 1):
        wait = min(MAX_BACKOFF_S, settings.backoff_s * 2**attempt)
        body, refused = None, ""
        try:
            req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
            with urllib.request.urlopen(req, timeout=settings.timeout_s) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as e:
            if e.code not in RETRY_STATUSES:
                refused = f"Bybit answered HTTP {e.code} {e.reason} to {url}"
            last = f"HTTP {e.code}"
        except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            last = f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
        if isinstance(body, dict):
            code = body.get("retCode")
            if code == 0:
                return body.get("result") or {}
            last = f"retCode {code} {body.get('retMsg', '')}"
            if code not in RETRY_CODES:
                refused = f"Bybit refused {path} {params}: retCode {code} {body.get('retMsg', '')!r}"
        elif body is not None:
            last = "an answer that is not a JSON object"
        if refused:
            raise DataError(refused)
        if attempt < settings.retries:
            settings.sleep(wait)
    raise BybitUnavailable(f"{path}: {last} after {settings.retries + 1} attempts")


def open_interest_pages(req: BybitRequest, symbol: str, interval: str, pages: list[tuple[np.ndarray, np.ndarray]],
                        advance=lambda: None) -> None:
    """Append ``(stamps ms, amounts)`` pages of ``[start, stop)`` to ``pages``, newest page first,
    following ``nextPageCursor`` back to the listing or the range's start."""
    params = {"category": "linear", "symbol": symbol, "intervalTime": INTERVALS[interval][0],
              "startTime": req.start_ms, "endTime": req.stop_ms - 1, "limit": OI_PAGE}
    oldest = None
    while True:
        result = get_result(req.base_url, OI_PATH, params, req.settings)
        rows = result.get("list") or []
        t = np.array([int(r["timestamp"]) for r in rows], dtype=np.int64)
        amount = np.array([float(r["openInterest"]) if r.get("openInterest") not in (None, "") else np.nan
                           for r in rows], dtype=np.float64)
        advance()
        if len(t) == 0 or (oldest is not None and t.min() >= oldest):
            return  # the listing was reached, or a page that does not go further back
        pages.append((t, amount))
        oldest = int(t.min())
        cursor = result.get("nextPageCursor")
        if not cursor or oldest <= req.start_ms:
            return
        params["cursor"] = cursor


def mark_at(req: BybitRequest, symbol: str, interval: str, stamps: np.ndarray) -> np.ndarray:
    """Mark price at each stamp (ms): the close of the ``interval`` mark candle ending there, else
    (the first snapshot after listing) the open of the candle starting there."""
    out = np.full(len(stamps), np.nan)
    if len(stamps) == 0:
        return out
    step = M.timeframe_ms(interval)
    closes: dict[int, float] = {}
    opens: dict[int, float] = {}
    first, last = int(stamps.min()) - step, int(stamps.max())  # candle opens
    for start in range(first, last + 1, KLINE_PAGE * step):
        end = min(last, start + (KLINE_PAGE - 1) * step)
        params = {"category": "linear", "symbol": symbol, "interval": INTERVALS[interval][1], "start": start,
                  "end": end, "limit": KLINE_PAGE}
        for row in get_result(req.base_url, MARK_PATH, params, req.settings).get("list") or []:
            closes[int(row[0]) + step] = float(row[4])
            opens[int(row[0])] = float(row[1])
    for i, t in enumerate(stamps.tolist()):
        out[i] = closes.get(t, opens.get(t, np.nan))
    return out


def _snapshots(pages: list[tuple[np.ndarray, np.ndarray]], req: BybitRequest) -> pd.DataFrame:
    t = np.concatenate([p[0] for p in pages]) if pages else np.zeros(0, np.int64)
    amount = np.concatenate([p[1] for p in pages]) if pages else np.zeros(0)
    keep = (t >= req.start_ms) & (t < req.stop_ms) & np.isfinite(amount)
    order = np.argsort(t[keep], kind="stable")
    t, amount = t[keep][order], amount[keep][order]
    unique = np.append(t[1:] != t[:-1], True) if len(t) else np.zeros(0, bool)
    t, amount = t[unique], amount[unique]
    snap = pd.DataFrame({"slot_ms": t, "create_ms": t, "open_interest_amount": amount,
                         "open_interest_value": np.full(len(t), np.nan)})
    for col in M.RATIO_COLUMNS:
        snap[col] = np.nan
    return snap


def _fill_values(existing: pd.DataFrame | None, new: pd.DataFrame) -> tuple[pd.DataFrame | None, int]:
    """Rows of ``existing`` with the same amount as ``new`` and no value take ``new``'s value."""
    if existing is None or existing.empty or new.empty:
        return existing, 0
    other = new.set_index(new["date"].dt.as_unit("ms"))
    dates = existing["date"].dt.as_unit("ms")
    value = other["open_interest_value"].reindex(dates).to_numpy(dtype=np.float64)
    amount = other["open_interest_amount"].reindex(dates).to_numpy(dtype=np.float64)
    have = existing["open_interest_amount"].to_numpy(dtype=np.float64)
    fill = existing["open_interest_value"].isna().to_numpy() & np.isfinite(value) & np.isclose(have, amount, rtol=1e-9)
    if not fill.any():
        return existing, 0
    existing = existing.copy()
    existing.loc[fill, "open_interest_value"] = value[fill]
    return existing, int(fill.sum())


def _write(req: BybitRequest, report: BybitReport, snap: pd.DataFrame) -> None:
    for tf in req.timeframes:
        new = M.oi_candles(snap, tf)
        existing, filled = _fill_values(S.load_oi(req.datadir, req.data_format, report.pair, tf), new)
        merged, added, conflicts = S.merge(existing, new)
        if added or filled:
            S.store_oi(req.datadir, req.data_format, report.pair, tf, merged)
        report.added[tf], report.rows[tf] = added, len(merged)
        report.filled[tf], report.conflicts[tf] = filled, conflicts
        if conflicts:
            logger.warning("%s %s: %d rows already in the file differ from Bybit's; the file's values kept",
                           report.pair, tf, conflicts)


def download_bybit_open_interest(req: BybitRequest, *, progress: bool = True) -> list[BybitReport]:
    """Run the job (module docstring); one report per pair.

    :raises ConfigError: a pair that is not a linear perpetual, a bad timeframe, an empty range.
    :raises DataError: Bybit refused a request (unknown symbol, ...).
    """
    from rich.progress import BarColumn, Progress, TextColumn

    symbols = [bybit_symbol(p) for p in req.pairs]
    interval = fetch_interval(tuple(req.timeframes))
    if req.stop_ms <= req.start_ms:
        raise ConfigError("--timerange: the end must come after the start.")
    reports = []
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed} pages"),
                  disable=not progress, transient=False) as bar:
        for pair, symbol in zip(req.pairs, symbols, strict=True):
            task = bar.add_task(f"{symbol} open interest ({interval})", total=None)
            report = BybitReport(pair, symbol, interval)
            pages: list[tuple[np.ndarray, np.ndarray]] = []
            try:
                open_interest_pages(req, symbol, interval, pages, lambda task=task: bar.advance(task))
            except BybitUnavailable as e:
                report.error = str(e)
                logger.warning("%s: %s; the %d pages fetched are written, run again to complete", pair, e, len(pages))
            snap = _snapshots(pages, req)
            if len(snap):
                try:
                    snap["open_interest_value"] = snap["open_interest_amount"].to_numpy() * mark_at(
                        req, symbol, interval, snap["slot_ms"].to_numpy(dtype=np.int64))
                except BybitUnavailable as e:
                    report.error = report.error or f"mark prices: {e}"
                    logger.warning("%s: mark prices: %s; open_interest_value left empty", pair, e)
            report.snapshots = len(snap)
            report.first_ms = int(snap["slot_ms"].iloc[0]) if len(snap) else None
            _write(req, report, snap)
            bar.update(task, total=bar.tasks[task].completed)
            reports.append(report)
    return reports
