"""A local server speaking Binance USD-M futures' public REST protocol over freqtrade data files.

Unmodified ccxt and freqtrade talk to it over HTTP on 127.0.0.1 when ``exchange.ccxt_config``
points ccxt's URLs at it (see ``ccxt_config``). Start it with ``liqrisk exchange``.
"""

from liqrisk.tools.exchange.server import ServerThread, ccxt_config, freqtrade_exchange_config, make_app, run
from liqrisk.tools.exchange.source import MarketSource, ReplaySource, open_source

__all__ = [
    "MarketSource",
    "ReplaySource",
    "ServerThread",
    "ccxt_config",
    "freqtrade_exchange_config",
    "make_app",
    "open_source",
    "run",
]
