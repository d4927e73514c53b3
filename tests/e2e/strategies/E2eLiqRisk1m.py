"""Test-only 1m variant of ``strategies/LiqRiskSample.py`` for the end-to-end dry-run tests.

``LiqRiskSample`` (the sample signals + ``LiqRiskMixin``) on 1m candles, with short windows so
the bot needs little history, entering long on every candle so a trade opens within a minute
or two. The mixin's rules stay on (features on every new candle, the cluster-aware stop, the
leverage cap); the crowded-zone veto is set to its weakest so the entry is not vetoed by chance.
Its own ``custom_stoploss`` (wrapped by the mixin) tightens the stop each minute and logs every
call on a line starting with ``E2E custom_stoploss``; ``populate_indicators`` logs the newest
``liq_`` values on a line starting with ``E2E liq``.
"""

import logging
import sys
from datetime import datetime
from pathlib import Path

from freqtrade.persistence import Trade
from freqtrade.strategy import DecimalParameter, IntParameter
from pandas import DataFrame

_STRATEGIES = Path(__file__).resolve().parents[3] / "strategies"
if str(_STRATEGIES) not in sys.path:
    sys.path.insert(0, str(_STRATEGIES))

from LiqRiskSample import LiqRiskSample  # noqa: E402

logger = logging.getLogger(__name__)


class E2eLiqRisk1m(LiqRiskSample):
    timeframe = "1m"
    startup_candle_count = 240
    liqrisk_config = {"windows": ["30m", "2h"]}
    liqrisk_window = "2h"
    liqrisk_veto_dist = DecimalParameter(0.0, 0.04, default=0.0, decimals=3, space="liqrisk")
    liqrisk_funding_veto = DecimalParameter(0.0001, 0.002, default=0.002, decimals=4, space="liqrisk")
    liqrisk_rsi_high = IntParameter(60, 100, default=100, space="liqrisk")
    liqrisk_rsi_low = IntParameter(0, 40, default=0, space="liqrisk")

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe = super().populate_indicators(dataframe, metadata)
        if len(dataframe):
            last = dataframe.iloc[-1]
            logger.info("E2E liq pair=%s last=%s rows=%d seed_usd=%.2f long_out_2h=%.2f short_out_2h=%.2f "
                        "below_nearest_2h=%.8f oi_fallback=%s", metadata["pair"], last["date"].isoformat(),
                        len(dataframe), last["liq_seed_usd"], last["liq_long_outstanding_usd_2h"],
                        last["liq_short_outstanding_usd_2h"], last["liq_below_nearest_price_2h"],
                        last["liq_oi_fallback"])
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe = super().populate_entry_trend(dataframe, metadata)
        dataframe["enter_long"] = 1
        dataframe["enter_short"] = 0
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["exit_long"] = 0
        dataframe["exit_short"] = 0
        return dataframe

    def custom_stoploss(self, pair: str, trade: Trade, current_time: datetime, current_rate: float,
                        current_profit: float, after_fill: bool, **kwargs) -> float | None:
        minutes = (current_time - trade.open_date_utc).total_seconds() / 60
        distance = max(0.03, 0.08 - 0.01 * int(minutes))
        logger.info("E2E custom_stoploss pair=%s trade=%s after_fill=%s minutes=%.2f rate=%.8f distance=%.4f "
                    "stop_before=%.8f", pair, trade.id, after_fill, minutes, current_rate, distance,
                    trade.stop_loss or 0.0)
        return distance
