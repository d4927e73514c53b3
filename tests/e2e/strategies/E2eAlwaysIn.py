"""Test-only strategy of the end-to-end dry-run tests: 1m candles, always in, a stop that moves.

Not a trading idea. It enters long on every candle (so a trade opens within a minute or two of
the bot starting), never exits on a signal or ROI, and manages its stop with ``custom_stoploss``:
10 % after the entry fill, then 1 percentage point tighter per minute in the trade, down to 3 %
(the static ``stoploss`` of 20 % is the widest the stop can be). Every call is logged on one line
starting with ``E2E custom_stoploss`` so the tests can read what the bot did.

``e2e_sma3`` (3-candle mean of the close) and ``e2e_rows`` (rows seen by ``populate_indicators``)
let the tests check, through the bot's REST API, that indicators are computed on new candles.
"""

import logging
from datetime import datetime

from freqtrade.persistence import Trade
from freqtrade.strategy import IStrategy
from pandas import DataFrame

logger = logging.getLogger(__name__)


class E2eAlwaysIn(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1m"
    can_short = False
    stoploss = -0.20
    use_custom_stoploss = True
    minimal_roi = {"0": 100.0}
    startup_candle_count = 10
    process_only_new_candles = True

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["e2e_sma3"] = dataframe["close"].rolling(3).mean()
        dataframe["e2e_rows"] = len(dataframe)
        if len(dataframe):
            logger.info("E2E indicators pair=%s last=%s sma3=%.8f", metadata["pair"],
                        dataframe["date"].iloc[-1].isoformat(), dataframe["e2e_sma3"].iloc[-1])
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        return dataframe

    def custom_stoploss(self, pair: str, trade: Trade, current_time: datetime, current_rate: float,
                        current_profit: float, after_fill: bool, **kwargs) -> float | None:
        minutes = (current_time - trade.open_date_utc).total_seconds() / 60
        distance = max(0.03, 0.10 - 0.01 * int(minutes))
        logger.info("E2E custom_stoploss pair=%s trade=%s after_fill=%s minutes=%.2f rate=%.8f distance=%.4f "
                    "stop_before=%.8f", pair, trade.id, after_fill, minutes, current_rate, distance,
                    trade.stop_loss or 0.0)
        return distance
