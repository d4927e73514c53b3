"""Append-only, day-partitioned store of recorded liquidations, one folder per exchange and pair.

Layout (``<PAIR>`` in freqtrade's file style, ``BTC_USDT_USDT``)::

    <datadir>/liqrisk_liquidations/<exchange>/<PAIR>/
        <YYYY-MM-DD>.jsonl        the open day: one JSON event per line, appended, fsync'd per flush
        <YYYY-MM-DD>.feather      a closed day, written once (sorted by time) and never rewritten
        <YYYY-MM-DD>.late.jsonl   events that arrived after their day closed (appended, normally absent)
        gaps.jsonl                disconnected intervals: {"start_ms", "end_ms", "reason"}
        span.json                 {"start_ms": first covered moment, "end_ms": last moment known connected}

An event is ``time_ms, exchange, pair, side, price, qty, usd, event_id``: ``time_ms`` is
the exchange's event time (UTC epoch ms), ``side`` the liquidated *position* ('long' /
'short'), ``price`` quote per base unit, ``qty`` base units, ``usd`` = qty * price (quote).
Neither Binance nor Bybit gives an id, so ``event_id`` is ``time|side|price|qty``
(``event_key``): a second copy of the same event (a reconnect, a restart, a replayed
frame) is dropped. Two genuinely different liquidations with the same time, side, price
and size would be merged; the exchanges' streams cannot tell them apart either.

Coverage. What the store knows is covered is ``[span.start_ms, span.end_ms]`` minus the
gaps. ``span.end_ms`` advances at each flush while connected, so after a crash the next
run records the gap ``[span.end_ms - pad, first acknowledgement]`` ("restart"); a
reconnect records ``[last sign of life - pad, acknowledgement]`` ("disconnect"). ``pad``
is the exchange's push latency (an event is pushed up to that long after its time) plus
``SAFETY_MS`` for clock skew and frames in flight. A candle that touches a gap is
unknown, never zero.

Crash safety: a flush writes whole lines and fsyncs, so a crash loses at most the events
received since the last flush (``flush_s`` in the recorder). A torn last line is cut off
on the next start. A day closes ``CLOSE_GRACE_MS`` after its end: its lines are written
to ``.feather`` through a temporary file and an atomic rename, then the ``.jsonl`` is
removed (a crash between the two leaves both; the next start removes the ``.jsonl``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)

ROOT_DIRNAME = "liqrisk_liquidations"
EVENT_COLUMNS = ("time_ms", "exchange", "pair", "side", "price", "qty", "usd", "event_id")
GAPS_FILE = "gaps.jsonl"
SPAN_FILE = "span.json"
#: A day's file closes this long after midnight UTC (late batches, clock skew), in ms.
CLOSE_GRACE_MS = 10 * 60_000
#: Added to the exchange's push latency when a gap starts (clock skew, frames in flight), in ms.
SAFETY_MS = 1000
DAY_MS = 86_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Liquidation:
    """One forced liquidation as an exchange reported it (units in the module docstring)."""

    time_ms: int
    exchange: str
    pair: str
    side: str
    price: float
    qty: float
    usd: float
    event_id: str


def event_key(time_ms: int, side: str, price: float, qty: float) -> str:
    """The de-duplication key of an event with no exchange id: ``'1738030060000|long|101.5|0.2'``."""
    return f"{int(time_ms)}|{side}|{float(price)!r}|{float(qty)!r}"


def pair_dirname(pair: str) -> str:
    """freqtrade's file name of a pair: ``'BTC/USDT:USDT'`` -> ``'BTC_USDT_USDT'``."""
    for ch in ("/", " ", ".", "@", "$", "+", ":"):
        pair = pair.replace(ch, "_")
    return pair


def store_root(datadir: str | Path) -> Path:
    """``<datadir>/liqrisk_liquidations``, or ``datadir`` itself when it is that folder."""
    path = Path(datadir)
    return path if path.name == ROOT_DIRNAME else path / ROOT_DIRNAME


def day_of(time_ms: int) -> str:
    """UTC date of an epoch-ms time, ``'2025-01-31'``."""
    return time.strftime("%Y-%m-%d", time.gmtime(time_ms // 1000))


def _day_start_ms(day: str) -> int:
    return int(pd.Timestamp(day, tz="UTC").value // 1_000_000)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def read_lines(path: Path, *, repair: bool = False) -> list[dict]:
    """The JSON objects of a ``.jsonl`` file. A torn last line (a crash mid-write) is
    skipped, and cut off the file when ``repair`` (it was never flushed whole)."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if repair and end < len(data):
        logger.warning("%s: cutting %d bytes of a line torn by a crash", path, len(data) - end)
        with open(path, "r+b") as f:
            f.truncate(end)
            os.fsync(f.fileno())
    out = []
    for line in data[:end].splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            logger.warning("%s: skipping an unreadable line", path)
    return out


class PairStore:
    """The store of one exchange and pair. Not thread-safe: one writer (the recorder's loop).

    :param root: ``store_root(datadir)``.
    :param latency_ms: the exchange's push latency (``Venue.latency_ms``), for gap starts.
    """

    def __init__(self, root: str | Path, exchange: str, pair: str, *, latency_ms: int = 1000):
        self.exchange, self.pair = exchange, pair
        self.dir = Path(root) / exchange / pair_dirname(pair)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.pad_ms = int(latency_ms) + SAFETY_MS
        self._buffer: list[Liquidation] = []
        self._seen: dict[str, set[str]] = {}  # day -> keys, open days and closed days looked up
        self.span: list[int] | None = None
        self._connected = False
        self._pending_gap: tuple[int, str] | None = None
        self.added = self.duplicates = self.flushed = 0
        self.gaps: list[dict] = []
        self._recover()

    # -- start-up -------------------------------------------------------------------------
    def _recover(self) -> None:
        for tmp in self.dir.glob("*.tmp"):
            tmp.unlink()
        for path in sorted(self.dir.glob("*.jsonl")):
            if path.name == GAPS_FILE:
                continue
            day = path.name.split(".")[0]
            if path.name == f"{day}.jsonl" and (self.dir / f"{day}.feather").exists():
                logger.info("%s: day %s was compacted before a crash; removing its .jsonl", self.dir, day)
                path.unlink()
                continue
            if path.name == f"{day}.jsonl":
                self._seen[day] = {row["event_id"] for row in read_lines(path, repair=True)}
            else:
                read_lines(path, repair=True)
        gaps_path = self.dir / GAPS_FILE
        if gaps_path.exists():
            self.gaps = read_lines(gaps_path, repair=True)
        span_path = self.dir / SPAN_FILE
        if span_path.exists():
            doc = json.loads(span_path.read_text())
            self.span = [int(doc["start_ms"]), int(doc["end_ms"])]
            self._pending_gap = (self.span[1] - self.pad_ms, "restart")

    # -- events ---------------------------------------------------------------------------
    def _keys(self, day: str) -> set[str]:
        keys = self._seen.get(day)
        if keys is None:  # a closed day: look its keys up once
            keys = set()
            feather = self.dir / f"{day}.feather"
            if feather.exists():
                keys.update(pd.read_feather(feather, columns=["event_id"])["event_id"])
            late = self.dir / f"{day}.late.jsonl"
            if late.exists():
                keys.update(row["event_id"] for row in read_lines(late))
            self._seen[day] = keys
        return keys

    def add(self, event: Liquidation) -> bool:
        """Buffer ``event`` unless its key is stored or buffered already. True if new."""
        keys = self._keys(day_of(event.time_ms))
        if event.event_id in keys:
            self.duplicates += 1
            return False
        keys.add(event.event_id)
        self._buffer.append(event)
        self.added += 1
        return True

    def _file_for(self, day: str) -> Path:
        if (self.dir / f"{day}.feather").exists():
            return self.dir / f"{day}.late.jsonl"
        return self.dir / f"{day}.jsonl"

    def flush(self, now: int | None = None) -> int:
        """Write the buffered events (fsync), advance the span if connected, close old days.

        :param now: wall clock in epoch ms (default: now); taken before anything is written.
        :returns: the number of events written.
        """
        now = now_ms() if now is None else now
        by_file: dict[Path, list[Liquidation]] = {}
        for ev in self._buffer:
            by_file.setdefault(self._file_for(day_of(ev.time_ms)), []).append(ev)
        for path, events in by_file.items():
            with open(path, "a") as f:
                f.write("".join(json.dumps(asdict(ev), separators=(",", ":")) + "\n" for ev in events))
                f.flush()
                os.fsync(f.fileno())
        written = len(self._buffer)
        self.flushed += written
        self._buffer = []
        if self._connected and self.span is not None:
            self.span[1] = max(self.span[1], now)
            self._write_span()
        for day in sorted(d for d in self._seen if (self.dir / f"{d}.jsonl").exists()):
            if _day_start_ms(day) + DAY_MS + CLOSE_GRACE_MS <= now:
                self._compact(day)
        return written

    def _compact(self, day: str) -> None:
        path = self.dir / f"{day}.jsonl"
        rows = read_lines(path)
        frame = pd.DataFrame(rows, columns=list(EVENT_COLUMNS)).sort_values("time_ms", kind="stable")
        frame = frame.astype({"time_ms": "int64", "price": "float64", "qty": "float64", "usd": "float64"})
        target = self.dir / f"{day}.feather"
        tmp = target.with_name(target.name + ".tmp")
        frame.reset_index(drop=True).to_feather(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
        _fsync_dir(self.dir)
        path.unlink()
        _fsync_dir(self.dir)
        self._seen.pop(day, None)
        logger.info("%s: closed %s (%d events) into %s", self.dir, day, len(frame), target.name)

    # -- coverage -------------------------------------------------------------------------
    def _write_span(self) -> None:
        _write_atomic(self.dir / SPAN_FILE, json.dumps({"start_ms": self.span[0], "end_ms": self.span[1]}))

    def add_gap(self, start_ms: int, end_ms: int, reason: str) -> None:
        """Append a disconnected interval ``[start_ms, end_ms]`` (epoch ms) to ``gaps.jsonl``."""
        if end_ms <= start_ms:
            return
        row = {"start_ms": int(start_ms), "end_ms": int(end_ms), "reason": reason}
        with open(self.dir / GAPS_FILE, "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.gaps.append(row)

    def connected(self, ack_ms: int) -> None:
        """The exchange acknowledged the subscription at ``ack_ms``: coverage (re)starts.
        Closes the pending gap (a reconnect, or this run's start after an earlier one)."""
        if self._connected:
            return
        if self.span is None:
            self.span = [int(ack_ms), int(ack_ms)]
        elif self._pending_gap is not None:
            start, reason = self._pending_gap
            self.add_gap(start, ack_ms, reason)
            self.span[1] = max(self.span[1], int(ack_ms))
        self._pending_gap = None
        self._connected = True
        self._write_span()

    def disconnected(self, last_alive_ms: int, reason: str = "disconnect") -> None:
        """The stream broke; the last sign of life was at ``last_alive_ms`` (epoch ms).
        The gap is written when the next acknowledgement arrives (``connected``)."""
        if not self._connected:
            return
        self._connected = False
        start = int(last_alive_ms) - self.pad_ms
        if self.span is not None:  # the span must not claim the time the gap takes back
            self.span[1] = max(self.span[0], min(self.span[1], start))
            self._write_span()
        self._pending_gap = (start, reason)

    def close(self, now: int | None = None) -> None:
        """Flush and stop: the span ends now; the next run starts with a 'restart' gap."""
        self.flush(now)
        self._connected = False
