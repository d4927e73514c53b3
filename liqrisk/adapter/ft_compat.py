"""Every freqtrade internal the adapter relies on, in one place.

freqtrade's public strategy API (hooks, ``self.dp``'s documented methods, ``Trade``,
parameters) is used directly elsewhere. What is here is *not* documented API: private
attributes, markers, defaults and call paths that freqtrade may change in any release.
Each item says why the adapter needs it. ``tests/adapter/test_ft_compat.py`` pins the
installed freqtrade version (``KNOWN_GOOD_VERSION``) and checks that every item still
exists and behaves as relied on, so an upgrade fails loudly there, in one place.
"""

from __future__ import annotations

import logging

from freqtrade.enums import CandleType, RunMode
from freqtrade.exceptions import OperationalException

logger = logging.getLogger(__name__)

#: freqtrade versions these internals were checked against (``freqtrade.__version__`` prefix).
KNOWN_GOOD_VERSION = "2026.9"

#: Module that defines ``IStrategy``. A class from this module is freqtrade's default
#: implementation, not the user's: the adapter uses it to tell "the strategy has its own
#: hook" from "only IStrategy's default is behind the mixin".
ISTRATEGY_MODULE = "freqtrade.strategy.interface"

#: freqtrade's ``funding_fee_timeframe`` default (``Exchange._ft_has_default``): the
#: funding candles' timeframe when no exchange is attached to the DataProvider.
DEFAULT_FUNDING_TIMEFRAME = "1h"

#: Prefix of ``__qualname__`` that ``strategy_safe_wrapper`` treats as framework code.
_FRAMEWORK_QUALNAME = "IStrategy."


def is_istrategy_default(cls: type) -> bool:
    """True when ``cls`` is freqtrade's ``IStrategy`` (or another class of its module).

    Why: the mixin must not return IStrategy's default ``custom_stoploss`` (the static
    stop, re-anchored each candle) as the strategy's own opinion, and it only needs the
    deep-copy-restoring shims (``own_hooks``) for hooks defined by the user's base classes.
    """
    return cls.__module__ == ISTRATEGY_MODULE


def skip_trade_copy(fn, name: str) -> None:
    """Mark a read-only hook so ``strategy_safe_wrapper`` does not deep-copy ``trade``.

    Why: freqtrade deep-copies the ``trade`` argument before every strategy hook unless
    the function's ``__qualname__`` starts with ``"IStrategy."`` (its marker for framework
    code, ``freqtrade/strategy/strategy_wrapper.py``). In backtesting ``custom_stoploss``
    runs once per candle per open trade and that copy alone made a backtest ~2x slower.
    Only hooks that never modify the trade may carry the marker.
    """
    fn.__qualname__ = f"{_FRAMEWORK_QUALNAME}{name}"


def runmode_of(config: dict) -> RunMode | None:
    """The run mode freqtrade's ``Configuration`` stores under ``config["runmode"]``.

    Why: the strategy is built before the DataProvider exists, so ``self.dp.runmode`` is
    not available in ``__init__``; the config key is (it is what ``dp.runmode`` reads).
    """
    return config.get("runmode")


def funding_timeframe(dp) -> str:
    """Timeframe of the funding-rate candles (``dp.get_funding_rate_timeframe()``).

    Why: it is the exchange's ``funding_fee_timeframe`` option. Without an attached
    exchange (unit tests, plotting, analysis tools) the DataProvider raises
    ``OperationalException``; then freqtrade's own default applies.
    """
    if dp is None:
        return DEFAULT_FUNDING_TIMEFRAME
    try:
        return dp.get_funding_rate_timeframe() or DEFAULT_FUNDING_TIMEFRAME
    except OperationalException:  # no exchange attached: the documented raise
        return DEFAULT_FUNDING_TIMEFRAME


def exchange_serves(dp, candle_type: CandleType) -> bool:
    """Whether the DataProvider's exchange serves ``candle_type`` candles.

    Why: asking for an unsupported candle type in ``informative_pairs`` fails freqtrade's
    refresh; without it the engine falls back and flags it. The DataProvider does not
    expose its exchange, so this reads the private ``dp._exchange`` and calls
    ``Exchange.check_candle_type_support``. True when there is no exchange to ask (the
    DataProvider then serves files, which may or may not exist).
    """
    exchange = getattr(dp, "_exchange", None)
    if exchange is None or not hasattr(exchange, "check_candle_type_support"):
        return True
    return bool(exchange.check_candle_type_support(candle_type))


#: Framework methods the mixin overrides although freqtrade documents them as not for
#: strategies. Why, for each:
#:
#: * ``advise_indicators``: the only entry point that runs before the user's
#:   ``populate_indicators`` in every run mode, so the ``liq_*`` columns exist when the
#:   user's signals are computed. The mixin calls ``super()`` unchanged.
#: * ``ft_bot_start``: runs once after the DataProvider is attached, without taking the
#:   user's own ``bot_start``. The mixin calls ``super()`` first.
#: * ``ft_bot_cleanup``: freqtrade's only strategy hook at shutdown (``FreqtradeBot.cleanup``,
#:   also on SIGINT and on ``/reload_config``); it stops the liquidation recorder. The mixin
#:   calls ``super()`` first.
OVERRIDDEN_FRAMEWORK_METHODS = ("advise_indicators", "ft_bot_start", "ft_bot_cleanup")

#: Hooks whose *signature* freqtrade inspects, so a wrapper around a user's hook must
#: spell the parameters out (``getfullargspec`` does not follow ``__wrapped__``):
#: ``StrategyResolver.validate_strategy`` turns on ``after_fill`` calls of
#: ``custom_stoploss`` only when ``"after_fill"`` is among its argument names.
INSPECTED_SIGNATURES = {"custom_stoploss": "after_fill"}
