"""Test-only futures strategy for the local-exchange tests: SMA cross, long and short.

Not a trading idea; it only has to trade often on a random walk so backtests have trades.
"""

from freqtrade.strategy import IStrategy
from pandas import DataFrame


class LocalexSmaCross(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "5m"
    can_short = True
    stoploss = -0.05
    minimal_roi = {"0": 0.02}
    startup_candle_count = 30
    process_only_new_candles = True

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["fast"] = dataframe["close"].rolling(6).mean()
        dataframe["slow"] = dataframe["close"].rolling(24).mean()
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        above = dataframe["fast"] > dataframe["slow"]
        was_above = above.shift(1, fill_value=False)
        dataframe.loc[above & ~was_above, "enter_long"] = 1
        dataframe.loc[~above & was_above & dataframe["slow"].notna(), "enter_short"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        above = dataframe["fast"] > dataframe["slow"]
        was_above = above.shift(1, fill_value=False)
        dataframe.loc[~above & was_above, "exit_long"] = 1
        dataframe.loc[above & ~was_above, "exit_short"] = 1
        return dataframe

    def leverage(self, pair, current_time, current_rate, proposed_leverage, max_leverage, entry_tag, side,
                 **kwargs) -> float:
        return min(3.0, max_leverage)
