"""Record the exchanges' public liquidation streams, and read the recording back.

* ``store``: the append-only, day-partitioned event store (layout, crash safety, gaps);
* ``recorder``: ``Recorder`` / ``RecorderThread``, ccxt pro subscriptions with reconnects;
* ``read``: ``read_recorded(datadir, pair, exchanges=None, timeframe=None)``, events, gaps
  and per-candle sums that are NaN (unknown) where the recording had a gap;
* ``venues``: what differs between Binance and Bybit, as data.
"""

from liqrisk.tools.record.read import Recorded, read_recorded, write_candle_sums

__all__ = ["Recorded", "read_recorded", "write_candle_sums"]
