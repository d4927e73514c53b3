"""Bybit v5 on the local exchange's aiohttp app: routes, envelopes, failures, injected faults,
and the ``ccxt_config`` that points ccxt's bybit class here.

The Bybit paths (``/v5/...``) sit beside Binance's on the same server and the same market, so
one ``liqrisk exchange`` serves a datadir to ``--exchange binance`` and ``--exchange bybit``
alike. Bybit's conventions (``bybit_shapes.py``): an error in the request is HTTP 200 with a
``retCode``; an unknown path answers 404 with retCode 10017; an unexpected exception 500 with
10016.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from aiohttp import web

from liqrisk.tools.exchange import bybit_shapes as ys
from liqrisk.tools.exchange.bybit_market import ROUTES, STARTUP_PATHS, BybitQuery
from liqrisk.tools.exchange.faults import Fault, FaultPlan
from liqrisk.tools.exchange.state import Exchange

logger = logging.getLogger(__name__)

#: ccxt's bybit ``urls['api']`` entries (``https://api.{hostname}`` each; ccxt appends
#: ``/v5/...`` to them). All point at the local server.
CCXT_API_NAMES: tuple[str, ...] = ("spot", "futures", "v2", "public", "private")

_warned_paths: set[str] = set()


def ccxt_config(base_url: str) -> dict:
    """The ``exchange.ccxt_config`` that points ccxt's bybit class at a server at ``base_url``,
    loading only linear markets (``options.fetchMarkets.types = ["linear"]``)."""
    base = base_url.rstrip("/")
    return {
        "urls": {"api": {name: base for name in CCXT_API_NAMES}},
        "options": {"fetchMarkets": {"types": ["linear"]}},
    }


def freqtrade_exchange_config(base_url: str) -> dict:
    """The ``exchange`` section of a freqtrade config for the local server's Bybit side."""
    return {"name": "bybit", "key": "", "secret": "", "enable_ws": False,
            "ccxt_config": ccxt_config(base_url), "pair_whitelist": [], "pair_blacklist": []}


def is_bybit(path: str) -> bool:
    return path.startswith(ys.PREFIX)


def _answer(ex: Exchange, err: ys.BybitError) -> web.Response:
    return web.json_response(ys.envelope({}, ex.now(), code=err.code, msg=err.msg), status=err.status)


def _endpoint(fn, key: web.AppKey):
    async def handle(request: web.Request) -> web.Response:
        ex = request.app[key]
        try:
            ex.refresh()
            query = BybitQuery({k: request.query.getone(k) for k in request.query.keys()})
            return web.json_response(ys.envelope(fn(ex, query), ex.now()))
        except ys.BybitError as e:
            return _answer(ex, e)
        except Exception:
            logger.exception("error while answering %s", request.path_qs)
            return _answer(ex, ys.BybitError("system"))

    handle.__name__ = fn.__name__
    return handle


def _not_found(key: web.AppKey):
    async def handle(request: web.Request) -> web.Response:
        if request.path not in _warned_paths:
            _warned_paths.add(request.path)
            logger.warning("unimplemented endpoint: %s %s", request.method, request.path_qs)
        return _answer(request.app[key], ys.BybitError("not_found", param=request.path))

    return handle


def add_bybit_routes(app: web.Application, key: web.AppKey) -> None:
    """Serve the v5 market endpoints on ``app``, whose ``Exchange`` is ``app[key]``."""
    for path, fn in ROUTES.items():
        app.router.add_get(path, _endpoint(fn, key), allow_head=False)
    app.router.add_route("*", ys.PREFIX + "{tail:.*}", _not_found(key))


def exempt(plan: FaultPlan, path: str) -> bool:
    """Whether ``path`` is a Bybit startup path the plan leaves alone."""
    return path in STARTUP_PATHS and not plan.include_startup


def fault_response(fault: Fault, now_ms: int) -> web.Response:
    """A Bybit-shaped failure for an injected ``status`` fault (see ``bybit_shapes``)."""
    if fault.status == 429:
        body = ys.envelope({}, now_ms, code=10006, msg=ys.ERRORS["too_many_visits"].msg)
        headers = {"X-Bapi-Limit": str(ys.ENDPOINT_LIMIT), "X-Bapi-Limit-Status": "0",
                   "X-Bapi-Limit-Reset-Timestamp": str(now_ms + 1000)}
        return web.json_response(body, status=200, headers=headers)
    if fault.status == 418:
        return web.Response(status=403, text=ys.IP_LIMIT_BODY)
    if fault.status == 500:
        err = ys.BybitError("system")
        return web.json_response(ys.envelope({}, now_ms, code=err.code, msg=err.msg), status=500)
    try:
        reason = HTTPStatus(fault.status).phrase
    except ValueError:
        reason = "Error"
    return web.Response(status=fault.status, text=ys.GATEWAY_HTML.format(status=fault.status, reason=reason),
                        content_type="text/html")
