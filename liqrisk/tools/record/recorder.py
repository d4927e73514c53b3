"""Record the exchanges' public liquidation streams into the store, through ccxt pro.

One ccxt pro exchange per venue: Binance and OKX subscribe every pair in one
``watch_liquidations_for_symbols`` call (OKX: the whole ``SWAP`` channel, filtered here),
Bybit one ``watch_liquidations`` per pair (ccxt has no multi-symbol call there; the
subscriptions share one connection).

Why a tap: ccxt's ``watch_*`` returns only what resolved its future, so a Bybit batch of
ten events returns one of them (the rest go to a bounded cache). The recorder therefore
wraps the exchange object's ``parse_ws_liquidation``, which ccxt calls once per event, and
uses the ``watch`` calls only to subscribe and to learn that the connection broke. ccxt
parses only the first of OKX's ``details`` in a raw event; the tap parses each of them. It
wraps ``handle_subscription_status`` the same way: coverage starts when every subscribe
has been acknowledged.

Everything runs on one asyncio loop: the watchers, and a writer that drains a bounded
queue into the stores, flushes every ``flush_s`` seconds, logs a progress line and
rewrites the per-candle files. A broken connection is retried with exponential backoff;
each distinct error is logged once at WARNING. ``RecorderThread`` runs all of it on its
own thread and loop, so a bot's loop is never blocked by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from liqrisk.tools.record.read import write_candle_sums
from liqrisk.tools.record.store import Liquidation, PairStore, event_key, now_ms, store_root
from liqrisk.tools.record.venues import Venue, offline_markets, set_ws_url, venue

logger = logging.getLogger(__name__)


@dataclass
class RecordSettings:
    """What to record and how often to write.

    :param datadir: freqtrade data folder; the store is ``<datadir>/liqrisk_liquidations``.
    :param ws_urls: exchange -> WebSocket URL replacing ccxt's (a local server). Markets are
        then built from the pair names (``offline_markets``) instead of a REST call.
    :param duration_s: stop after this many seconds (None: until ``stop()``).
    :param flush_s: seconds between flushes (fsync); a crash loses at most this much.
    """

    pairs: list[str]
    exchanges: list[str]
    datadir: Path
    timeframes: list[str] = field(default_factory=lambda: ["5m", "1h"])
    duration_s: float | None = None
    ws_urls: dict[str, str] = field(default_factory=dict)
    flush_s: float = 2.0
    progress_s: float = 30.0
    candles_s: float = 60.0
    queue_size: int = 100_000
    backoff_s: tuple[float, float] = (0.5, 30.0)
    ccxt_config: dict = field(default_factory=dict)


@dataclass
class _Link:
    """One exchange's connection state."""

    spec: Venue
    exchange: object
    stores: dict[str, PairStore]
    acks_needed: int
    acks: int = 0
    live: bool = False
    last_alive_ms: int = 0
    client: object = None
    events: int = 0
    errors: int = 0
    #: Stores of pairs added while live: covered from the acknowledgement of their subscription.
    pending: list = field(default_factory=list)


class Recorder:
    """Records ``settings.pairs`` from ``settings.exchanges`` until the duration ends or ``stop()``."""

    def __init__(self, settings: RecordSettings):
        self.s = settings
        self.pairs = list(settings.pairs)  # grows with add_pairs; the settings stay as given
        self.root = store_root(settings.datadir)
        self.links: dict[str, _Link] = {}
        self._queue: asyncio.Queue | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._logged: set[str] = set()
        self._tasks: list[asyncio.Task] = []
        self.overflow = 0
        self.ready = threading.Event()  # every exchange acknowledged at least once

    # -- errors ---------------------------------------------------------------------------
    def _log_once(self, key: str, message: str, *args) -> None:
        if key not in self._logged:
            self._logged.add(key)
            logger.warning(message + " (logged once; later ones at debug level)", *args)
        else:
            logger.debug(message, *args)

    # -- ccxt -----------------------------------------------------------------------------
    def _make_link(self, name: str) -> _Link:
        import ccxt.pro

        spec = venue(name)
        exchange = getattr(ccxt.pro, spec.ccxt_id)({"enableRateLimit": True, **self.s.ccxt_config})
        if name in self.s.ws_urls:
            set_ws_url(exchange, spec, self.s.ws_urls[name])
            exchange.set_markets(offline_markets(self.pairs, spec))
        stores = {p: PairStore(self.root, name, p, latency_ms=spec.latency_ms) for p in self.pairs}
        link = _Link(spec, exchange, stores, acks_needed=1 if spec.multi_symbol else len(self.pairs))
        self._tap(link)
        return link

    def _tap(self, link: _Link) -> None:
        ex, spec = link.exchange, link.spec
        parse, on_status, on_message = ex.parse_ws_liquidation, ex.handle_subscription_status, ex.handle_message

        def parse_tap(raw, market=None):
            liq = parse(raw, market)
            try:
                self._on_liquidation(link, liq)
                key = spec.details_key
                for detail in (raw.get(key) or [])[1:] if key else ():
                    self._on_liquidation(link, parse({**raw, key: [detail]}, market))
            except Exception as e:  # never break ccxt's message handling
                self._log_once(f"tap:{type(e).__name__}", "%s: cannot read a liquidation (%r): %s", spec.name, raw, e)
            return liq

        def status_tap(client, message, *args):
            link.acks += 1
            # Acknowledgements name no subscription: a pair added while live is covered once
            # every subscription so far is acknowledged (never before its own ack).
            if link.acks >= link.acks_needed and (not link.live or link.pending):
                ack = now_ms()
                for store in link.pending if link.live else link.stores.values():
                    store.connected(ack)
                link.pending = []
                link.live = True
                if all(x.live for x in self.links.values()):
                    self.ready.set()
            return on_status(client, message, *args)

        def message_tap(client, message):
            link.client, link.last_alive_ms = client, now_ms()
            return on_message(client, message)

        ex.parse_ws_liquidation, ex.handle_subscription_status, ex.handle_message = parse_tap, status_tap, message_tap

    def _on_liquidation(self, link: _Link, liq: dict) -> None:
        pair = liq.get("symbol")
        if pair not in link.stores:
            return
        # ccxt okx (4.5) drops the contract size (safe_liquidation without the market): the
        # pair's market has it (OKX's ctVal; 1 on Binance and Bybit)
        size = liq.get("contractSize") or ((link.exchange.markets or {}).get(pair) or {}).get("contractSize")
        if not size:
            raise ValueError(f"no contract size for {pair}")
        qty = float(liq["contracts"]) * float(size)
        price, t = float(liq["price"]), int(liq["timestamp"])
        side = "long" if liq.get("side") == link.spec.long_side else "short"
        event = Liquidation(t, link.spec.name, pair, side, price, qty, qty * price, event_key(t, side, price, qty))
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflow += 1
            self._log_once("queue", "liquidation queue full (%d): events are dropped and the time marked as a gap",
                           self.s.queue_size)
            store = link.stores[pair]
            store.add_gap(t - store.pad_ms, t + store.pad_ms, "queue full")

    def _broken(self, link: _Link, error: Exception) -> None:
        link.errors += 1
        self._log_once(f"{link.spec.name}:{type(error).__name__}", "%s: stream broke (%s: %s); reconnecting with "
                       "backoff", link.spec.name, type(error).__name__, str(error)[:200])
        if link.live:
            last = max(link.last_alive_ms, int(getattr(link.client, "last_message_at", None) or 0)) or now_ms()
            for store in link.stores.values():
                store.disconnected(min(last, now_ms()))
        link.live, link.acks = False, 0

    async def _watch(self, link: _Link, pairs: list[str]) -> None:
        import ccxt

        lo, hi = self.s.backoff_s
        delay = lo
        while not self._stop.is_set():
            try:
                if link.exchange.markets is None:
                    await link.exchange.load_markets()
                listed = [p for p in pairs if p in link.exchange.markets]
                if len(listed) < len(pairs):  # one unlisted pair must not cost its group's others
                    self._log_once(f"{link.spec.name}:unlisted:{pairs}", "%s: not recording %s (not listed there)",
                                   link.spec.name, ", ".join(p for p in pairs if p not in listed))
                    self._drop(link, [p for p in pairs if p not in listed], subscription=not listed)
                    if not listed:
                        return
                    pairs = listed
                if link.spec.multi_symbol:
                    await link.exchange.watch_liquidations_for_symbols(pairs)
                else:
                    await link.exchange.watch_liquidations(pairs[0])
                delay = lo
            except asyncio.CancelledError:
                raise
            except ccxt.BadSymbol as e:  # not listed there: retrying cannot help, and must not cost the others
                self._log_once(f"{link.spec.name}:badsymbol:{pairs}", "%s: not recording %s (%s)", link.spec.name,
                               ", ".join(pairs), e)
                self._drop(link, pairs)
                return
            except Exception as e:  # ccxt's NetworkError, ExchangeError, ...; retried
                self._broken(link, e)
                try:
                    await asyncio.wait_for(self._stop.wait(), delay)
                except TimeoutError:
                    pass
                delay = min(hi, delay * 2)

    def _drop(self, link: _Link, pairs: list[str], subscription: bool = True) -> None:
        """Forget ``pairs`` (no store); ``subscription``: their whole subscription, which was never sent."""
        if subscription:
            link.acks_needed -= 1
        for pair in pairs:
            store = link.stores.pop(pair, None)
            if store in link.pending:
                link.pending.remove(store)
            if store is not None:
                with contextlib.suppress(OSError):  # only when empty: an earlier run's recording stays
                    store.dir.rmdir()

    def add_pairs(self, pairs: list[str]) -> None:
        """Also record ``pairs`` from now on (from any thread; a bot's dynamic pairlist).

        Each new pair is covered from the acknowledgement of its subscription; pairs
        already recorded are ignored, and pairs are never removed (a pair that left the
        whitelist stays recorded)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._add_pairs, list(pairs))

    def _add_pairs(self, pairs: list[str]) -> None:
        new = [p for p in dict.fromkeys(pairs) if p not in self.pairs]
        if not new or self._stop.is_set():
            return
        self.pairs.extend(new)
        for name, link in self.links.items():
            spec = link.spec
            if name in self.s.ws_urls:
                link.exchange.set_markets(offline_markets(self.pairs, spec))
            for pair in new:  # _watch drops those the exchange does not list
                link.stores[pair] = PairStore(self.root, name, pair, latency_ms=spec.latency_ms)
                link.pending.append(link.stores[pair])
            groups = [new] if spec.multi_symbol else [[p] for p in new]
            link.acks_needed += len(groups)
            self._tasks += [asyncio.create_task(self._watch(link, g)) for g in groups]
        logger.info("liqrisk record: also recording %s from now on", ", ".join(new))

    # -- writing --------------------------------------------------------------------------
    def _stores(self):
        return [st for link in self.links.values() for st in link.stores.values()]

    def progress(self) -> str:
        """``binance 120 events (3 dup), 1 gap 4.1 s | bybit ...``."""
        parts = []
        for name, link in self.links.items():
            sts = link.stores.values()
            gaps = [g for st in sts for g in st.gaps]
            gap_s = sum(g["end_ms"] - g["start_ms"] for g in gaps) / 1000
            parts.append(f"{name} {sum(st.added for st in sts):,} events ({sum(st.duplicates for st in sts)} dup)"
                         f"{'' if link.live else ' DISCONNECTED'}, {len(gaps)} gaps {gap_s:,.1f} s")
        return " | ".join(parts) + (f" | queue overflow {self.overflow}" if self.overflow else "")

    def _write_candles(self) -> None:
        for pair in self.pairs:
            exchanges = [name for name, link in self.links.items() if pair in link.stores]
            if not exchanges:  # no exchange lists it (_drop)
                continue
            try:
                write_candle_sums(self.root, pair, self.s.timeframes, exchanges)
            except Exception as e:  # a derived file; the store stays the record
                self._log_once(f"candles:{type(e).__name__}", "cannot write per-candle sums of %s: %s", pair, e)

    async def _writer(self) -> None:
        next_flush = next_progress = next_candles = time.monotonic()
        next_flush += self.s.flush_s
        next_progress += self.s.progress_s
        next_candles += self.s.candles_s
        while True:
            try:
                event = await asyncio.wait_for(self._queue.get(), max(0.0, next_flush - time.monotonic()))
                self.links[event.exchange].stores[event.pair].add(event)
                self.links[event.exchange].events += 1
            except TimeoutError:
                pass
            now = time.monotonic()
            if now >= next_flush:
                for store in self._stores():
                    store.flush()
                next_flush = now + self.s.flush_s
            if now >= next_progress:
                logger.info("liqrisk record: %s", self.progress())
                next_progress = now + self.s.progress_s
            if now >= next_candles:
                self._write_candles()
                next_candles = now + self.s.candles_s

    # -- running --------------------------------------------------------------------------
    async def run(self) -> str:
        """Record until the duration ends or ``stop()``; returns the last progress line."""
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(self.s.queue_size)
        self._stop = asyncio.Event()
        self.links = {name: self._make_link(name) for name in self.s.exchanges}
        writer = asyncio.create_task(self._writer())
        for link in self.links.values():
            groups = [list(self.pairs)] if link.spec.multi_symbol else [[p] for p in self.pairs]
            self._tasks += [asyncio.create_task(self._watch(link, g)) for g in groups]
        try:
            await asyncio.wait_for(self._stop.wait(), self.s.duration_s)
        except TimeoutError:
            pass
        finally:
            self._stop.set()  # add_pairs starts no watcher from here on
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            while not self._queue.empty():
                event = self._queue.get_nowait()
                self.links[event.exchange].stores[event.pair].add(event)
            for store in self._stores():
                store.close()
            for link in self.links.values():
                try:
                    await link.exchange.close()
                except Exception as e:  # closing a broken client
                    logger.debug("%s: close: %s", link.spec.name, e)
            self._write_candles()
        line = self.progress()
        logger.info("liqrisk record: stopped; %s", line)
        return line

    def stop(self) -> None:
        """Stop recording (from any thread)."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)


class RecorderThread(threading.Thread):
    """A ``Recorder`` on its own thread and asyncio loop (daemon): ``start()``, ``stop()``."""

    def __init__(self, settings: RecordSettings):
        super().__init__(name="liqrisk-record", daemon=True)
        self.recorder = Recorder(settings)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self.recorder.run())
        except BaseException as e:  # reported by stop(); a recorder must never take its host down
            self.error = e
            logger.exception("liqrisk record stopped on an error")

    def stop(self, timeout: float = 30.0) -> None:
        self.recorder.stop()
        self.join(timeout)
