"""Record the bot's exchange's public liquidation stream while it trades, and score the map daily.

Turned on by the strategy's ``liqrisk_record_liquidations = True`` or by the freqtrade
config's own section (kept apart from the ``liqrisk`` section of model keys)::

    "liqrisk_record": {"enabled": true, "days": 7, "report_every_h": 24}

``ws_url`` in that section replaces ccxt's WebSocket URL of the exchange; without it, an
exchange whose ``ccxt_config`` points at a loopback server (``liqrisk exchange``) is
recorded from that server's streams, any other from the real exchange.

Only in dry-run and live. A ``RecorderThread`` (its own thread and asyncio loop, bounded
queue, errors logged once; ``liqrisk.tools.record``) records the bot's whitelist on the
bot's exchange (binance, bybit or okx: ``liqrisk.tools.record.venues``) into
``<datadir>/liqrisk_liquidations``; pairs a dynamic pairlist adds later are recorded from
their subscription on, and pairs it drops stay recorded. Nothing here runs on
the bot's loop except a clock check per analysed candle: the score runs on a short-lived
thread and its message goes out through ``dp.send_msg``. A failure is logged once and the
bot carries on; the thread is a daemon and is stopped on ``ft_bot_cleanup`` (SIGINT).

Once every ``report_every_h`` hours the bot sends, per pair, the Spearman correlation and
any-liquidation AUC of ``liq_<side>_est_usd_<window>`` with the recorded USD per candle,
over the covered candles of the last ``days`` days, with the wick × OI baseline beside them
(``liqrisk.tools.record.score``). freqtrade's RPC has no strategy-level command, so there
is no on-demand report over Telegram; ``LiqRiskMixin.liqrisk_recording_report()`` sends one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
from freqtrade.enums import CandleType, RunMode

from liqrisk.adapter import ft_compat
from liqrisk.adapter.columns import LiqriskConfigurationError, oi_timeframe

logger = logging.getLogger(__name__)

SECTION = "liqrisk_record"
#: Seconds ``stop`` waits for the recorder's last flush; it is a daemon thread after that.
STOP_TIMEOUT_S = 3.0
_LOOPBACK = ("127.", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class RecordingOptions:
    """``enabled``; ``days``: the score's look-back; ``report_every_h``: hours between reports;
    ``ws_url``: the exchange's WebSocket URL (None: the real one, or a loopback server's)."""

    enabled: bool = False
    days: float = 7.0
    report_every_h: float = 24.0
    ws_url: str | None = None


def read_options(strategy_flag: bool, ft_config: dict) -> RecordingOptions:
    """The strategy's flag with the config's ``liqrisk_record`` section over it.

    :raises LiqriskConfigurationError: a section that is not an object, an unknown key, or a
        value out of range; the message names it.
    """
    section = ft_config.get(SECTION) or {}
    if not isinstance(section, Mapping):
        raise LiqriskConfigurationError(f"the freqtrade config's {SECTION!r} section must be a JSON object, e.g. "
                                        f'{{"enabled": true, "days": 7}}; got {section!r}.')
    unknown = set(section) - {"enabled", "days", "report_every_h", "ws_url"}
    if unknown:
        raise LiqriskConfigurationError(f"{SECTION}: unknown key(s) {sorted(unknown)}; use enabled, days, "
                                        "report_every_h, ws_url (model keys go in the 'liqrisk' section).")
    opts = RecordingOptions(enabled=bool(section.get("enabled", strategy_flag)))
    for key, lo, hi in (("days", 0.01, 365.0), ("report_every_h", 0.01, 24.0 * 365)):
        value = section.get(key, getattr(opts, key))
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise LiqriskConfigurationError(f"{SECTION}.{key}={value!r} must be a number in [{lo:g}, {hi:g}].")
        opts = RecordingOptions(**{**opts.__dict__, key: float(value)})
    ws_url = section.get("ws_url")
    if ws_url is not None and not (isinstance(ws_url, str) and ws_url.startswith(("ws://", "wss://"))):
        raise LiqriskConfigurationError(f"{SECTION}.ws_url={ws_url!r} must be a ws:// or wss:// URL.")
    return RecordingOptions(**{**opts.__dict__, "ws_url": ws_url})


def loopback_base(exchange_config: dict) -> str | None:
    """``http://127.0.0.1:8765`` when the exchange's ``ccxt_config`` points ccxt at a loopback
    server (the local exchange, which serves the liquidation streams on the same port)."""
    stack = [exchange_config.get("ccxt_config"), exchange_config.get("ccxt_async_config")]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            stack.extend(node.values())
        elif isinstance(node, str) and node.startswith("http"):
            parts = urlsplit(node)
            if (parts.hostname or "").startswith(_LOOPBACK) or parts.hostname in ("localhost", "::1"):
                return f"{parts.scheme}://{parts.netloc}"
    return None


class BotRecording:
    """The recorder of one bot and its daily score. ``start``, ``maybe_report``, ``stop``.

    :param clock: the wall clock as a UTC ``pd.Timestamp`` (tests pass a fake one).
    """

    def __init__(self, config: dict, opts: RecordingOptions, pairs: list[str], timeframe: str, window: str,
                 *, clock: Callable[[], pd.Timestamp] | None = None):
        from liqrisk.tools.record.venues import venue

        self.config, self.opts, self.pairs = config, opts, list(pairs)
        self.timeframe, self.window = timeframe, window
        self.exchange = str((config.get("exchange") or {}).get("name", "")).lower()
        self.venue = venue(self.exchange)  # ConfigError for an exchange without a recorder
        self.datadir = Path(config.get("datadir") or Path(config.get("user_data_dir", "user_data")) / "data")
        self.clock = clock or (lambda: pd.Timestamp.now(tz="UTC"))
        self.started_at = self.clock()
        self.next_report = self.started_at + pd.Timedelta(hours=opts.report_every_h)
        self.thread = None
        self._worker: threading.Thread | None = None
        self._logged: set[str] = set()
        self.last_message: str | None = None

    def _log_once(self, key: str, msg: str, *args) -> None:
        if key not in self._logged:
            self._logged.add(key)
            logger.warning(msg, *args)

    def ws_urls(self) -> dict[str, str]:
        if self.opts.ws_url:
            return {self.exchange: self.opts.ws_url}
        base = loopback_base(self.config.get("exchange") or {})
        if base is None:
            return {}
        from liqrisk.tools.exchange.liquidation_ws import ws_urls

        return {self.exchange: ws_urls(base)[self.exchange]}

    def start(self) -> None:
        """Start the recorder thread (returns at once)."""
        from liqrisk.tools.record.recorder import RecorderThread, RecordSettings

        settings = RecordSettings(pairs=self.pairs, exchanges=[self.exchange], datadir=self.datadir,
                                  timeframes=[self.timeframe], ws_urls=self.ws_urls(), progress_s=600.0,
                                  candles_s=600.0, queue_size=50_000)
        self.thread = RecorderThread(settings)
        self.thread.start()
        logger.info("liqrisk: recording %s liquidations of %s into %s%s", self.exchange, ", ".join(self.pairs),
                    self.thread.recorder.root, f" from {settings.ws_urls[self.exchange]}" if settings.ws_urls else "")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop recording: a last flush, within ``timeout`` seconds (then left to die with the process)."""
        if self.thread is not None:
            self.thread.stop(timeout)
            if self.thread.is_alive():
                logger.warning("liqrisk: the liquidation recorder did not stop within %.0f s; leaving it (a daemon "
                               "thread; flushed events are safe).", timeout)

    def follow(self, dp) -> list[str]:
        """Record the pairs that joined the bot's whitelist since the last call; returns them."""
        if self.thread is None or not self.thread.is_alive():
            return []
        try:
            whitelist = list(dp.current_whitelist())
        except Exception as e:  # noqa: BLE001 - the DataProvider can raise anything; never stop the bot
            self._log_once(f"whitelist:{type(e).__name__}", "liqrisk: cannot read the whitelist (%r)", e)
            return []
        new = [p for p in whitelist if p not in self.pairs]
        if new:
            self.pairs.extend(new)
            self.thread.recorder.add_pairs(new)
        return new

    # -- the score --------------------------------------------------------------------------
    def maybe_report(self, dp, *, wait: bool = False) -> bool:
        """Follow the whitelist (``follow``), and start a report when one is due (a clock
        check otherwise). True if one started."""
        self.follow(dp)
        now = self.clock()
        if now < self.next_report or (self._worker is not None and self._worker.is_alive()):
            return False
        self.next_report = now + pd.Timedelta(hours=self.opts.report_every_h)
        self.report(dp, now=now, wait=wait)
        return True

    def report(self, dp, *, now: pd.Timestamp | None = None, wait: bool = False) -> None:
        """Score now and send the message through ``dp.send_msg`` (on a worker thread unless
        ``wait``; the frames are copied here, on the caller's thread)."""
        now = self.clock() if now is None else now
        frames = {}
        for pair in self.pairs:
            try:
                df, _ = dp.get_analyzed_dataframe(pair, self.timeframe)
                oi = dp.get_pair_dataframe(pair, oi_timeframe(self.timeframe), candle_type=CandleType.OPEN_INTEREST)
            except Exception as e:  # noqa: BLE001 - the DataProvider can raise anything; never stop the bot
                self._log_once(f"frames:{type(e).__name__}", "liqrisk: no frames to score %s (%r)", pair, e)
                df, oi = None, None
            frames[pair] = (None if df is None else df.copy(), None if oi is None or oi.empty else oi.copy())
        self._worker = threading.Thread(target=self._score_and_send, args=(dp, frames, now),
                                        name="liqrisk-record-score", daemon=True)
        self._worker.start()
        if wait:
            self._worker.join()

    def _score_and_send(self, dp, frames: dict, now: pd.Timestamp) -> None:
        try:
            message = self.score_message(frames, now)
            self.last_message = message
            dp.send_msg(message, always_send=True)
            logger.info("%s", message)
        except Exception as e:  # noqa: BLE001 - a worker thread; report and carry on
            self._log_once(f"score:{type(e).__name__}", "liqrisk: scoring the recorded liquidations failed (%r); "
                           "retrying at the next report", e)

    def score_message(self, frames: dict, now: pd.Timestamp) -> str:
        """The report's text from ``pair -> (analysed frame, OI frame)``."""
        from liqrisk.errors import LiqriskError
        from liqrisk.tools.record import read_recorded
        from liqrisk.tools.record.score import PairScore, format_report, score_pair

        scores = []
        for pair, (df, oi) in frames.items():
            if df is None or df.empty:
                scores.append(PairScore(pair, self.timeframe, self.window, note="no analysed candles"))
                continue
            try:
                actual = read_recorded(self.datadir, pair, [self.exchange], timeframe=self.timeframe).actuals
            except LiqriskError as e:
                scores.append(PairScore(pair, self.timeframe, self.window, note=str(e).split(";")[0]))
                continue
            scores.append(score_pair(df, actual, pair=pair, timeframe=self.timeframe, open_interest=oi,
                                     window=self.window, days=self.opts.days, now=now))
        return format_report(scores, days=self.opts.days, exchanges=[self.exchange])


def start_for(strategy, *, clock=None) -> BotRecording | None:
    """A started ``BotRecording`` for ``strategy`` when recording is on and the bot trades
    (dry-run, live); None otherwise. A bad ``liqrisk_record`` section raises at bot start;
    anything else is logged and the bot runs without recording."""
    config = strategy.config
    opts = read_options(bool(getattr(strategy, "liqrisk_record_liquidations", False)), config)
    if not opts.enabled or ft_compat.runmode_of(config) not in (RunMode.DRY_RUN, RunMode.LIVE):
        return None
    try:
        try:
            pairs = list(strategy.dp.current_whitelist())
        except Exception:  # noqa: BLE001 - no pairlist yet: the configured whitelist
            pairs = list((config.get("exchange") or {}).get("pair_whitelist") or [])
        rec = BotRecording(config, opts, pairs, strategy._liq_timeframe(), strategy.liqrisk_window, clock=clock)
        rec.start()
        return rec
    except Exception as e:  # noqa: BLE001 - recording is optional: never stop the bot for it
        logger.warning("liqrisk: not recording liquidations (%s); the bot runs on without it.", e)
        return None
