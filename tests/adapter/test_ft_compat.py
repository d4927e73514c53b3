"""Every freqtrade internal ``liqrisk.adapter.ft_compat`` relies on, checked against the
installed freqtrade. After a freqtrade upgrade, this file is where the adapter breaks:
fix ``ft_compat`` (and its docstrings), then bump ``KNOWN_GOOD_VERSION``."""

from __future__ import annotations

import inspect

import freqtrade
import pytest
from freqtrade.data.dataprovider import DataProvider
from freqtrade.enums import CandleType, RunMode
from freqtrade.exceptions import OperationalException
from freqtrade.exchange import Exchange
from freqtrade.resolvers.strategy_resolver import StrategyResolver
from freqtrade.strategy import IStrategy
from freqtrade.strategy.strategy_wrapper import strategy_safe_wrapper

from liqrisk.adapter import LiqRiskMixin, ft_compat, own_hooks
from tests.adapter.test_mixin import CONFIG, OwnHooks, WithMixin


def test_freqtrade_version_is_the_checked_one():
    assert freqtrade.__version__.startswith(ft_compat.KNOWN_GOOD_VERSION), (
        f"freqtrade {freqtrade.__version__} is installed; liqrisk.adapter.ft_compat was checked against "
        f"{ft_compat.KNOWN_GOOD_VERSION}. Run this file, fix what fails, then bump KNOWN_GOOD_VERSION.")


original = {"stop_loss": 98.0}  # any deep-copyable object


def _seen_trade(qualname: str):
    """The ``trade`` object a hook with ``qualname`` receives through strategy_safe_wrapper."""
    def hook(*, trade):
        return trade
    hook.__qualname__ = qualname
    return strategy_safe_wrapper(hook)(trade=original)


def test_safe_wrapper_copies_the_trade_unless_framework_qualname():
    assert _seen_trade("MyStrategy.custom_stoploss") is not original
    assert _seen_trade("MyStrategy.custom_stoploss") == original
    assert _seen_trade("IStrategy.custom_stoploss") is original


def test_mixin_read_only_hooks_carry_the_marker_and_user_hooks_do_not():
    for name in own_hooks.READ_ONLY:
        assert getattr(LiqRiskMixin, name).__qualname__ == f"IStrategy.{name}"
    strat = OwnHooks(dict(CONFIG))
    assert not strat.custom_stoploss.__qualname__.startswith("IStrategy.")  # the user's own, wrapped
    assert not strat.leverage.__qualname__.startswith("IStrategy.")


def test_istrategy_module():
    assert IStrategy.__module__ == ft_compat.ISTRATEGY_MODULE
    assert ft_compat.is_istrategy_default(IStrategy) and not ft_compat.is_istrategy_default(WithMixin)


def test_runmode_is_read_from_the_config_key():
    assert DataProvider({"runmode": RunMode.BACKTEST}, None).runmode == RunMode.BACKTEST
    assert ft_compat.runmode_of({"runmode": RunMode.DRY_RUN}) == RunMode.DRY_RUN


def test_funding_timeframe_without_an_exchange():
    assert Exchange._ft_has_default["funding_fee_timeframe"] == ft_compat.DEFAULT_FUNDING_TIMEFRAME
    dp = DataProvider({"runmode": RunMode.BACKTEST}, None)
    with pytest.raises(OperationalException):
        dp.get_funding_rate_timeframe()
    assert ft_compat.funding_timeframe(dp) == ft_compat.DEFAULT_FUNDING_TIMEFRAME
    assert ft_compat.funding_timeframe(None) == ft_compat.DEFAULT_FUNDING_TIMEFRAME


def test_current_whitelist_without_pairlists_raises_operational_exception():
    with pytest.raises(OperationalException):
        DataProvider({"runmode": RunMode.BACKTEST}, None).current_whitelist()


def test_dataprovider_keeps_its_exchange_in_a_private_attribute():
    class FakeExchange:
        def check_candle_type_support(self, candle_type):
            return candle_type != CandleType.OPEN_INTEREST

    assert "check_candle_type_support" in vars(Exchange)
    params = inspect.signature(Exchange.check_candle_type_support).parameters
    assert list(params) == ["self", "candle_type"]
    dp = DataProvider({"runmode": RunMode.BACKTEST}, FakeExchange())
    assert not ft_compat.exchange_serves(dp, CandleType.OPEN_INTEREST)
    assert ft_compat.exchange_serves(dp, CandleType.FUNDING_RATE)
    assert ft_compat.exchange_serves(DataProvider({"runmode": RunMode.BACKTEST}, None), CandleType.MARK)


@pytest.mark.parametrize("name, calls", [("advise_indicators", "self.populate_indicators("),
                                         ("ft_bot_start", "self.bot_start")])
def test_overridden_framework_methods_still_delegate(name, calls):
    assert name in ft_compat.OVERRIDDEN_FRAMEWORK_METHODS
    assert calls in inspect.getsource(getattr(IStrategy, name))


def test_bot_cleanup_calls_the_strategy_cleanup():
    from freqtrade.freqtradebot import FreqtradeBot

    assert "ft_bot_cleanup" in ft_compat.OVERRIDDEN_FRAMEWORK_METHODS
    assert "self.strategy.ft_bot_cleanup()" in inspect.getsource(FreqtradeBot.cleanup)
    assert "freqai" in inspect.getsource(IStrategy.ft_bot_cleanup)  # what super() keeps doing


@pytest.mark.parametrize("cls", [WithMixin, OwnHooks])
def test_after_fill_is_detected_through_the_mixin_and_its_wrappers(cls):
    strat = cls(dict(CONFIG))
    assert ft_compat.INSPECTED_SIGNATURES == {"custom_stoploss": "after_fill"}
    assert strat._ft_stop_uses_after_fill is False  # IStrategy's class default
    StrategyResolver.validate_strategy(strat)
    assert strat._ft_stop_uses_after_fill is True
