"""Open-interest history beyond the exchange API's 30 days, into freqtrade's own files.

``liqrisk download-oi`` (``job.download_open_interest``) reads Binance's public data archive:
daily USD-M ``metrics`` files with 5-minute snapshots of open interest and the long/short
statistics, checksummed and kept in a cache (``fetch.py``), parsed and stamped without
lookahead (``metrics.py``), and merged into freqtrade's ``open_interest`` candles through
freqtrade's data handler plus a statistics file beside them (``store.py``).
"""

from liqrisk.tools.download.job import DownloadRequest, PairReport, download_open_interest

__all__ = ["DownloadRequest", "PairReport", "download_open_interest"]
