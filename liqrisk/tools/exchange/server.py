"""The aiohttp server: routing, Binance error bodies, injected faults, start and stop.

Beside the REST API, the same port serves the liquidation WebSocket streams
(``/binance/ws``, ``/bybit/v5/public/linear``; ``liquidation_ws.py``), fed from the
simulator's liquidations when the source is live (``live_liquidations.py``). HTTP faults
and the weight header leave those paths alone; their faults are ``WsFaults``.

``run(...)`` serves until SIGINT/SIGTERM (the CLI). ``ServerThread`` serves from a background
thread on an ephemeral port (tests, notebooks). Only loopback addresses are served.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from contextlib import suppress

from aiohttp import web

from liqrisk.tools.exchange import bybit_http, routes
from liqrisk.tools.exchange.archive import ArchiveFaults, add_archive_routes
from liqrisk.tools.exchange.binance_shapes import FAULT_5XX, BinanceError
from liqrisk.tools.exchange.faults import RETRY_AFTER_S, FaultPlan
from liqrisk.tools.exchange.liquidation_ws import LiquidationWsServer
from liqrisk.tools.exchange.live_liquidations import WsFaults, feed_live
from liqrisk.tools.exchange.source import MarketSource
from liqrisk.tools.exchange.state import Exchange, Query

logger = logging.getLogger(__name__)

EXCHANGE_KEY = web.AppKey("exchange", Exchange)
FAULTS_KEY = web.AppKey("faults", FaultPlan)
WEIGHT_KEY = web.AppKey("weight", list)

#: ccxt's ``urls.api`` entries of binance, with the path each one has on the real hosts. Every
#: entry points at the local server, so nothing a client does can reach the real exchange;
#: COIN-M's data path is the same as USD-M's on another host, hence its own prefix here.
CCXT_API_PATHS: dict[str, str] = {
    "public": "/api/v3",
    "private": "/api/v3",
    "v1": "/api/v1",
    "sapi": "/sapi/v1",
    "sapiV2": "/sapi/v2",
    "sapiV3": "/sapi/v3",
    "sapiV4": "/sapi/v4",
    "fapiPublic": "/fapi/v1",
    "fapiPublicV2": "/fapi/v2",
    "fapiPublicV3": "/fapi/v3",
    "fapiPrivate": "/fapi/v1",
    "fapiPrivateV2": "/fapi/v2",
    "fapiPrivateV3": "/fapi/v3",
    "fapiData": "/futures/data",
    "dapiPublic": "/dapi/v1",
    "dapiPrivate": "/dapi/v1",
    "dapiPrivateV2": "/dapi/v2",
    "dapiData": "/dapi-data/futures/data",
    "eapiPublic": "/eapi/v1",
    "eapiPrivate": "/eapi/v1",
    "papi": "/papi/v1",
    "papiV2": "/papi/v2",
}


def ccxt_config(base_url: str) -> dict:
    """The ``exchange.ccxt_config`` that points ccxt's binance class at a server at ``base_url``.

    Also restricts market loading to USD-M (``options.fetchMarkets.types = ["linear"]``).
    """
    base = base_url.rstrip("/")
    return {
        "urls": {"api": {name: base + path for name, path in CCXT_API_PATHS.items()}},
        "options": {"fetchMarkets": {"types": ["linear"]}},
    }


def freqtrade_exchange_config(base_url: str) -> dict:
    """The ``exchange`` section of a freqtrade config for the local server (no keys)."""
    return {
        "name": "binance",
        "key": "",
        "secret": "",
        "enable_ws": False,
        # freqtrade fetches 1m-30m futures candles from data.binance.vision unless told otherwise.
        "only_from_ccxt": True,
        "ccxt_config": ccxt_config(base_url),
        "pair_whitelist": [],
        "pair_blacklist": [],
    }


# -- middlewares -------------------------------------------------------------------------------

_warned_paths: set[str] = set()
#: Paths of the liquidation WebSocket streams (no HTTP faults, no weight header).
WS_PREFIXES = ("/binance/", "/bybit/")


def _json(status: int, body: object, headers: dict | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def binance_errors(request: web.Request, handler):
    """Every failure leaves as Binance's ``{"code", "msg"}`` JSON; tracebacks stay in the log."""
    try:
        return await handler(request)
    except BinanceError as e:
        return _json(e.status, e.body(), e.headers)
    except web.HTTPException as e:
        if e.status in (404, 405):
            if request.path not in _warned_paths:
                _warned_paths.add(request.path)
                logger.warning("unimplemented endpoint: %s %s", request.method, request.path_qs)
            err = BinanceError("bad_path", param=request.path, legal=request.method)
            return _json(err.status, err.body())
        raise
    except Exception:
        logger.exception("error while answering %s", request.path_qs)
        err = BinanceError("unknown")
        return _json(err.status, err.body())


@web.middleware
async def injected_faults(request: web.Request, handler):
    """Fail some requests on purpose, as ``--faults`` asks (see ``faults.py``)."""
    plan = request.app.get(FAULTS_KEY)
    if request.path.startswith(WS_PREFIXES):
        return await handler(request)
    bybit = bybit_http.is_bybit(request.path)
    if plan is not None and bybit and bybit_http.exempt(plan, request.path):
        plan = None
    fault = plan.draw(request.method, request.path, request.query_string) if plan else None
    if fault is None:
        return await handler(request)
    logger.info("injected fault %s %s on %s", fault.kind, fault.status or "", request.path_qs)
    if fault.kind == "timeout":
        await asyncio.sleep(plan.delay_s)
        return await handler(request)
    if bybit:
        return bybit_http.fault_response(fault, request.app[EXCHANGE_KEY].now())
    if fault.status in (418, 429):
        err = BinanceError("too_many_requests", headers={"Retry-After": str(RETRY_AFTER_S)})
        return _json(fault.status, err.body(), err.headers)
    err = BinanceError(FAULT_5XX.get(fault.status, "internal"))
    return _json(fault.status, err.body())


@web.middleware
async def weight_header(request: web.Request, handler):
    """Binance reports the request weight used in the current minute; clients log it."""
    response = await handler(request)
    if request.path.startswith(WS_PREFIXES):
        return response
    app = request.app
    minute = int(time.time() // 60)
    used = app[WEIGHT_KEY]
    if used[0] != minute:
        used[0], used[1] = minute, 0
    used[1] += 1
    response.headers["X-MBX-USED-WEIGHT-1M"] = str(used[1])
    return response


def _endpoint(fn: Callable[[Exchange, Query], object]):
    async def handle(request: web.Request) -> web.Response:
        ex = request.app[EXCHANGE_KEY]
        ex.refresh()
        query = Query({k: request.query.getone(k) for k in request.query.keys()})
        return web.json_response(fn(ex, query))

    handle.__name__ = fn.__name__
    return handle


async def _not_found(request: web.Request) -> web.Response:
    raise web.HTTPNotFound()


def make_app(exchange: Exchange, faults: FaultPlan | None = None,
             archive_faults: ArchiveFaults | None = None,
             liquidations: LiquidationWsServer | None = None) -> web.Application:
    """The aiohttp application answering Binance's public endpoints from ``exchange``, Bybit's
    v5 market endpoints from the same market (``bybit_http.py``), the public data archive's
    daily metrics files (``archive.py``; ``archive_faults``: bad days) and, with
    ``liquidations``, the liquidation WebSocket streams (started by ``start_streams``)."""
    app = web.Application(middlewares=[weight_header, injected_faults, binance_errors])
    app[EXCHANGE_KEY] = exchange
    if faults is not None:
        app[FAULTS_KEY] = faults
    app[WEIGHT_KEY] = [0, 0]
    for path, fn in routes.ROUTES.items():
        app.router.add_get(path, _endpoint(fn), allow_head=False)
    add_archive_routes(app, exchange, archive_faults)
    bybit_http.add_bybit_routes(app, EXCHANGE_KEY)
    if liquidations is not None:
        liquidations.attach(app)
    app.router.add_route("*", "/{tail:.*}", _not_found)
    return app


# -- running -----------------------------------------------------------------------------------


def check_loopback(host: str) -> None:
    """Raise ValueError unless ``host`` is a loopback address."""
    if host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("127."):
        raise ValueError(f"host {host!r} is not a loopback address; the local exchange serves 127.0.0.1 only")


async def _start(app: web.Application, host: str, port: int, access_log: bool) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=logger if access_log else None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    server = site._server
    bound = server.sockets[0].getsockname()[1] if server and server.sockets else port
    return runner, int(bound)


async def start_streams(liquidations: LiquidationWsServer, exchange: Exchange, port: int) -> asyncio.Task:
    """Start pushing liquidation frames, and feeding them from a live source; returns the feed
    task (cancel it, then ``await liquidations.stop()``)."""
    liquidations.port = port
    await liquidations.start_pump()
    return asyncio.create_task(feed_live(liquidations, exchange))


async def stop_streams(liquidations: LiquidationWsServer, feed: asyncio.Task) -> None:
    feed.cancel()
    await asyncio.gather(feed, return_exceptions=True)
    await liquidations.stop()


def run(source: MarketSource, *, host: str = "127.0.0.1", port: int = 8765, faults: FaultPlan | None = None,
        on_ready: Callable[[str], None] | None = None, access_log: bool = False,
        archive_faults: ArchiveFaults | None = None, ws_faults: WsFaults | None = None) -> None:
    """Serve until SIGINT or SIGTERM. ``on_ready(base_url)`` is called once the port is bound.
    Raises OSError when the port cannot be bound."""
    import signal

    check_loopback(host)
    exchange = Exchange(source)
    liquidations = LiquidationWsServer(faults=ws_faults)
    app = make_app(exchange, faults, archive_faults, liquidations)

    async def main() -> None:
        runner, bound = await _start(app, host, port, access_log)
        feed = await start_streams(liquidations, exchange, bound)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        try:
            if on_ready:
                on_ready(f"http://{host}:{bound}")
            await stop.wait()
        finally:
            await stop_streams(liquidations, feed)
            await runner.cleanup()

    asyncio.run(main())


class ServerThread:
    """The server on a background thread: ``with ServerThread(source) as srv: srv.url``.

    ``port=0`` picks a free port. ``clock`` (epoch ms) replaces the real clock, for tests.
    ``archive_faults``: days the metrics archive serves missing or corrupted. ``liquidations``
    (a ``LiquidationWsServer``): serve the liquidation streams too (``ws_urls(url)``).
    """

    def __init__(self, source: MarketSource, *, host: str = "127.0.0.1", port: int = 0,
                 faults: FaultPlan | None = None, clock: Callable[[], int] | None = None,
                 archive_faults: ArchiveFaults | None = None, liquidations: LiquidationWsServer | None = None):
        check_loopback(host)
        self.exchange = Exchange(source, clock=clock)
        self.liquidations = liquidations
        self._feed: asyncio.Task | None = None
        self.app = make_app(self.exchange, faults, archive_faults, liquidations)
        self.host, self.port = host, port
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="liqrisk-localex", daemon=True)
        self._runner: web.AppRunner | None = None

    def start(self) -> ServerThread:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(_start(self.app, self.host, self.port, False), self._loop)
        self._runner, self.port = fut.result(timeout=30)
        self.url = f"http://{self.host}:{self.port}"
        if self.liquidations is not None:
            coro = start_streams(self.liquidations, self.exchange, self.port)
            self._feed = asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        if self._feed is not None:
            asyncio.run_coroutine_threadsafe(stop_streams(self.liquidations, self._feed), self._loop).result(30)
            self._feed = None
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
            self._runner = None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_closed() and not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
