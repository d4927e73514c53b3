"""Local WebSocket server that replays liquidations as Binance, Bybit and OKX push them (loopback only).

Three protocols on one port, fed from a table of events (``date`` ms UTC, ``pair``,
``side`` of the liquidated position, ``price``, ``qty``): the simulator's
``liqrisk_truth/liquidations.parquet`` through ``events_from_truth``, or a test's list.

* ``/binance/...`` speaks Binance USD-M's market streams: ``{"method": "SUBSCRIBE",
  "params": ["btcusdt@forceOrder"], "id": 1}`` is answered ``{"result": null, "id": 1}``;
  ``!forceOrder@arr`` is every symbol. Frames are ``forceOrder`` events with ``S`` the
  *order* side (SELL liquidates a long). Sampled as Binance does: per symbol and whole
  UTC second ``[s, s + 1000)``, only the latest event is pushed, at ``s + 1000``.
* ``/bybit/...`` speaks Bybit v5 public: ``{"op": "subscribe", "args":
  ["allLiquidation.BTCUSDT"]}``, ``{"op": "ping"}``. Every event, batched: events with time
  in ``[k * 500, (k + 1) * 500)`` are pushed together at ``(k + 1) * 500``, ``S`` is the
  *position* side (Buy = a long was liquidated).
* ``/okx/ws/v5/public`` speaks OKX v5 public: ``{"op": "subscribe", "args": [{"channel":
  "liquidation-orders", "instType": "SWAP"}]}`` is answered ``{"event": "subscribe", "arg":
  {...}, "connId": ...}``, the text ``ping`` with ``pong``. Sampled per instrument and
  second (as OKX documents; ``okx_sampling=False`` pushes every event), every instrument
  of a second in one push at ``s + 1000``, ``sz`` in contracts (``record.wire``).

The frames are built in ``liqrisk.tools.record.wire``. Numbers go out as strings with 8
significant digits; ``wire_events`` gives the events exactly as a client parses them
back, after sampling (the expected recording).

Frames are pushed in wall-clock time at their push time. A client that is not connected
then misses them, as on a real exchange. Faults: ``drop_connections(down_s)`` closes
every connection and refuses new ones for ``down_s`` seconds; ``replay_ms`` re-sends a
new subscriber the frames of the last ``replay_ms`` (real exchanges do not; it exercises
a recorder's de-duplication); ``WsFaults`` drops every connection at random seconds and
pushes a share of the frames late (``liqrisk exchange --faults ws_drop:R,ws_delay:R``).

``start()`` serves on a port of its own; ``attach(app)`` + ``start_pump()`` serve on an
existing aiohttp application instead (``liqrisk exchange`` serves them beside its REST API).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import itertools
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from aiohttp import WSMsgType, web

from liqrisk.tools.exchange.live_liquidations import WsFaults
from liqrisk.tools.record.wire import (  # noqa: F401 - re-exported, the test bed's public names
    BINANCE_SAMPLE_MS,
    BYBIT_BATCH_MS,
    EVENT_FIELDS,
    OKX_TOPIC,
    SIG_DIGITS,
    binance_frames,
    binance_sample,
    bybit_frames,
    okx_frames,
    wire_events,
)
from liqrisk.tools.record.wire import clean as _clean

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


def now_ms() -> int:
    return int(time.time() * 1000)


def ws_urls(base: str) -> dict[str, str]:
    """ccxt WebSocket base URLs of a server at ``base`` (``http://127.0.0.1:8765``), per exchange."""
    host = base.rstrip("/").split("://", 1)[-1]
    return {"binance": f"ws://{host}/binance/ws", "bybit": f"ws://{host}/bybit/v5/public/linear",
            "okx": f"ws://{host}/okx/ws/v5"}


def events_from_truth(path: str | Path, *, start_ms: int, since_ms: int | None = None, speed: float = 1.0,
                      pairs: list[str] | None = None) -> pd.DataFrame:
    """The simulator's liquidations moved to wall-clock time: the first one at or after
    ``since_ms`` happens at ``start_ms``, later ones ``speed`` times faster than simulated.
    Times keep their millisecond within the second when ``speed == 1``."""
    truth = pd.read_parquet(path, columns=list(EVENT_FIELDS))
    truth["pair"] = truth["pair"].astype(str)
    if pairs:
        truth = truth[truth["pair"].isin(pairs)]
    if since_ms is not None:
        truth = truth[truth["date"] >= since_ms]
    if truth.empty:
        return _clean(truth)
    t0 = int(truth["date"].min())
    offset = (start_ms - t0) // BINANCE_SAMPLE_MS * BINANCE_SAMPLE_MS if speed == 1.0 else start_ms - t0
    rel = (truth["date"].to_numpy(dtype=np.int64) - t0) / speed
    truth["date"] = (t0 + offset + np.floor(rel)).astype(np.int64)
    return _clean(truth)


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    style: str
    topics: set[str] = field(default_factory=set)


class LiquidationWsServer:
    """The server. ``await start()``, ``feed(events)`` any time, ``await stop()``.

    :param port: TCP port on 127.0.0.1 (0: a free one; see ``port`` after start).
    :param binance_sampling: push only Binance's sample (default, as Binance does).
    :param okx_sampling: push only OKX's sample (default, as OKX documents); False: every
        event, several ``details`` per instrument in a push.
    :param replay_ms: re-send a new subscription the frames pushed in the last ``replay_ms``.
    :param faults: random drops and late frames (``WsFaults``).
    """

    def __init__(self, events=None, *, port: int = 0, binance_sampling: bool = True, okx_sampling: bool = True,
                 replay_ms: int = 0, faults: WsFaults | None = None):
        self.port = port
        self.binance_sampling = binance_sampling
        self.okx_sampling = okx_sampling
        self.replay_ms = replay_ms
        self.faults = faults
        self.dropped = self.delayed = 0
        self._heap: list = []
        self._seq = itertools.count()
        self._conns: set[_Conn] = set()
        self._down_until = 0.0
        self._recent: list[tuple[int, str, str, str]] = []  # (push ms, style, topic, text)
        self._wake: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task | None = None
        self._fault_task: asyncio.Task | None = None
        self.sent = 0
        self.acks = 0  # subscribe requests answered, over all connections
        self.subscriptions: dict[str, set[str]] = {"binance": set(), "bybit": set(), "okx": set()}
        self._pending = [events] if events is not None and len(events) else []

    @property
    def urls(self) -> dict[str, str]:
        """ccxt WebSocket base URLs (``urls.api.ws.linear`` / ``urls.api.ws.public.linear`` / ``urls.api.ws``)."""
        return ws_urls(f"http://{LOOPBACK}:{self.port}")

    def feed(self, events) -> None:
        """Schedule ``events`` (columns ``date, pair, side, price, qty``; ``date`` wall-clock ms).
        Binance's and OKX's sampling apply to each call on its own (``wire_events`` of these events)."""
        frames = [("bybit", *f) for f in bybit_frames(events)]
        frames += [("binance", *f) for f in binance_frames(events, self.binance_sampling)]
        frames += [("okx", *f) for f in okx_frames(events, self.okx_sampling)]
        for style, push, topic, payload in frames:
            heapq.heappush(self._heap, (push, next(self._seq), style, topic, json.dumps(payload), False))
        if self._wake is not None:
            self._wake.set()

    def attach(self, app: web.Application) -> None:
        """Serve the streams on ``app`` (at ``/binance/...``, ``/bybit/...`` and ``/okx/...``)."""
        app.router.add_get("/{style:binance|bybit|okx}/{tail:.*}", self._handle)

    async def start(self) -> LiquidationWsServer:
        app = web.Application()
        self.attach(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, LOOPBACK, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        await self.start_pump()
        logger.info("liquidation WebSocket server on %s", self.urls)
        return self

    async def start_pump(self) -> None:
        """Start pushing frames (and drawing ``faults``) on the running loop."""
        self._wake = asyncio.Event()
        for events in self._pending:
            self.feed(events)
        self._task = asyncio.create_task(self._pump())
        if self.faults is not None and self.faults.drop_per_s > 0:
            self._fault_task = asyncio.create_task(self._drop_at_random())

    async def _drop_at_random(self) -> None:
        while True:
            await asyncio.sleep(1.0 - time.time() % 1.0)
            if self.faults.draw("drop", int(time.time())) < self.faults.drop_per_s:
                n = await self.drop_connections(self.faults.down_s)
                self.dropped += 1
                logger.info("injected fault ws_drop: closed %d liquidation WebSocket(s), down %.1f s", n,
                            self.faults.down_s)

    async def stop(self) -> None:
        for task in (self._task, self._fault_task):
            if task:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        for conn in list(self._conns):
            await conn.ws.close()
        if self._runner:
            await self._runner.cleanup()

    async def drop_connections(self, down_s: float = 0.0) -> int:
        """Close every connection (code 1001, going away); refuse new ones for ``down_s`` s."""
        self._down_until = time.monotonic() + down_s
        conns = list(self._conns)
        for conn in conns:
            await conn.ws.close(code=1001, message=b"fault injected")
        return len(conns)

    async def _pump(self) -> None:
        while True:
            if not self._heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            delay = (self._heap[0][0] - now_ms()) / 1000
            if delay > 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except TimeoutError:
                    pass
                continue
            push, seq, style, topic, text, late = heapq.heappop(self._heap)
            if (self.faults is not None and not late and self.faults.delay_share > 0
                    and self.faults.draw("delay", seq) < self.faults.delay_share):
                self.delayed += 1
                heapq.heappush(self._heap, (push + int(self.faults.delay_s * 1000), seq, style, topic, text, True))
                continue
            self._recent.append((push, style, topic, text))
            cutoff = push - self.replay_ms
            while self._recent and self._recent[0][0] < cutoff:
                self._recent.pop(0)
            for conn in list(self._conns):
                if conn.style == style and (topic in conn.topics or (style == "binance" and "!forceOrder@arr"
                                                                      in conn.topics)):
                    await self._send(conn, text)

    async def _send(self, conn: _Conn, text: str) -> None:
        try:
            await conn.ws.send_str(text)
            self.sent += 1
        except (ConnectionError, RuntimeError):  # closing under us: the client misses it
            self._conns.discard(conn)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if time.monotonic() < self._down_until:
            raise web.HTTPServiceUnavailable(text="fault injected: down")
        style = request.match_info["style"]
        ws = web.WebSocketResponse(heartbeat=20.0)
        await ws.prepare(request)
        conn = _Conn(ws, style)
        tail = request.match_info["tail"]
        if style == "binance" and "@" in tail:  # raw stream in the URL: /ws/btcusdt@forceOrder
            conn.topics.update(tail.rsplit("/", 1)[-1].split("/"))
        self._conns.add(conn)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                if style == "okx" and msg.data == "ping":  # OKX's keep-alive is text, not JSON
                    await conn.ws.send_str("pong")
                    continue
                try:
                    doc = json.loads(msg.data)
                except ValueError:
                    continue
                handler = {"binance": self._on_binance, "bybit": self._on_bybit, "okx": self._on_okx}[style]
                await handler(conn, doc)
        finally:
            self._conns.discard(conn)
        return ws

    async def _subscribed(self, conn: _Conn, topics: list[str]) -> None:
        self.acks += 1
        conn.topics.update(topics)
        self.subscriptions[conn.style].update(topics)
        for push, style, topic, text in list(self._recent):
            if style == conn.style and topic in topics and push >= now_ms() - self.replay_ms:
                await self._send(conn, text)

    async def _on_binance(self, conn: _Conn, doc: dict) -> None:
        if doc.get("method") == "SUBSCRIBE":
            await conn.ws.send_str(json.dumps({"result": None, "id": doc.get("id")}))
            await self._subscribed(conn, [str(t) for t in doc.get("params", [])])
        elif doc.get("method") == "UNSUBSCRIBE":
            conn.topics.difference_update(doc.get("params", []))
            await conn.ws.send_str(json.dumps({"result": None, "id": doc.get("id")}))

    async def _on_bybit(self, conn: _Conn, doc: dict) -> None:
        op, req_id = doc.get("op"), doc.get("req_id")
        if op == "ping":
            await conn.ws.send_str(json.dumps({"success": True, "ret_msg": "pong", "conn_id": str(id(conn)),
                                               "req_id": req_id, "op": "ping"}))
        elif op == "subscribe":
            await conn.ws.send_str(json.dumps({"success": True, "ret_msg": "", "conn_id": str(id(conn)),
                                               "req_id": req_id, "op": "subscribe"}))
            await self._subscribed(conn, [str(t) for t in doc.get("args", [])])
        elif op == "unsubscribe":
            conn.topics.difference_update(doc.get("args", []))

    async def _on_okx(self, conn: _Conn, doc: dict) -> None:
        op = doc.get("op")
        if op not in ("subscribe", "unsubscribe"):
            return
        topics = []
        for arg in doc.get("args") or []:
            arg = arg if isinstance(arg, dict) else {}
            topic = f"{arg.get('channel')}:{arg.get('instType')}"
            if op == "subscribe" and topic != OKX_TOPIC:
                await conn.ws.send_str(json.dumps({"event": "error", "code": "60018", "connId": str(id(conn)),
                                                   "msg": f"Wrong URL or channel:{arg.get('channel')} doesn't exist."}))
                continue
            reply = {"event": op, "arg": arg, "connId": str(id(conn))}
            await conn.ws.send_str(json.dumps(reply if "id" not in doc else {"id": doc["id"], **reply}))
            topics.append(topic)
        if op == "subscribe" and topics:
            await self._subscribed(conn, topics)
        else:
            conn.topics.difference_update(topics)


class LiquidationWsThread:
    """``LiquidationWsServer`` on its own thread and loop (tests, a recorder in another
    process). ``start()`` returns once it listens; ``feed``, ``drop_connections`` and
    ``stop`` may be called from any thread."""

    def __init__(self, events=None, **kwargs):
        self.server = LiquidationWsServer(events, **kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="liquidation-ws", daemon=True)

    @property
    def urls(self) -> dict[str, str]:
        return self.server.urls

    def _call(self, coro, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> LiquidationWsThread:
        self._thread.start()
        self._call(self.server.start())
        return self

    def feed(self, events) -> None:
        self._loop.call_soon_threadsafe(self.server.feed, events)

    def drop_connections(self, down_s: float = 0.0) -> int:
        return self._call(self.server.drop_connections(down_s))

    def stop(self) -> None:
        try:
            self._call(self.server.stop())
        except (concurrent.futures.TimeoutError, RuntimeError):  # pragma: no cover - already stopping
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
