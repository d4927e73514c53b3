"""Composition with a strategy's own hooks.

If a strategy defines ``confirm_trade_entry``, ``custom_stoploss``, ``leverage``,
``confirm_trade_exit`` or ``informative_pairs`` itself, ``install`` wraps it at class
creation so the liqrisk layer (``layers``) runs once on what the strategy's method
returns. A ``super()`` call inside the strategy's method reaches the mixin's hook while
the wrapper is active (``_liq_depth`` > 0), which then answers without the layer.

The wrappers spell out every parameter: freqtrade inspects ``custom_stoploss`` for
``after_fill`` (``ft_compat.INSPECTED_SIGNATURES``) and ``getfullargspec`` does not follow
``__wrapped__``.
"""

from __future__ import annotations

from datetime import datetime

from liqrisk.adapter import ft_compat, layers

#: Hooks that a strategy's own definition is wrapped for.
WRAPPED = ("confirm_trade_entry", "custom_stoploss", "leverage", "confirm_trade_exit", "informative_pairs")
#: Hooks of the mixin that only read the trade, so they skip freqtrade's deep copy of it
#: (``ft_compat.skip_trade_copy``). A strategy's own hooks (wrapped here, or in a base
#: class behind the mixin, see ``install``) keep the copy.
READ_ONLY = ("custom_stoploss", "confirm_trade_exit")


def install(cls: type, mixin: type) -> None:
    """Wrap ``cls``'s own hooks; give read-only hooks of a base class behind ``mixin``
    back freqtrade's protective deep copy (called from ``mixin.__init_subclass__``)."""
    for name in WRAPPED:
        fn = cls.__dict__.get(name)
        if fn is not None and not getattr(fn, "_liqrisk_wrapped", False):
            setattr(cls, name, _WRAPPERS[name](fn))
    for name in READ_ONLY:
        if name not in cls.__dict__ and any(
            name in vars(b) for b in cls.__mro__[1:]
            if not issubclass(b, mixin) and not ft_compat.is_istrategy_default(b) and b is not object
        ):
            setattr(cls, name, _honest(mixin, name))


def mark_read_only(mixin: type) -> None:
    """Let the mixin's own read-only hooks skip freqtrade's deep copy of the trade."""
    for name in READ_ONLY:
        ft_compat.skip_trade_copy(getattr(mixin, name), name)


def next_is_default(cls: type, mixin: type, name: str) -> bool:
    """True when the class after ``mixin`` in ``cls``'s MRO that defines ``name`` is IStrategy."""
    mro = cls.__mro__
    for b in mro[mro.index(mixin) + 1:]:
        if name in vars(b):
            return ft_compat.is_istrategy_default(b)
    return True


def _enter(self):
    self._liq_depth += 1


def _leave(self):
    self._liq_depth -= 1
    return self._liq_depth == 0


def _wrap_confirm_trade_entry(fn):
    def confirm_trade_entry(self, pair: str, order_type: str, amount: float, rate: float, time_in_force: str,
                            current_time: datetime, entry_tag: str | None, side: str, **kwargs) -> bool:
        _enter(self)
        try:
            ok = fn(self, pair=pair, order_type=order_type, amount=amount, rate=rate, time_in_force=time_in_force,
                    current_time=current_time, entry_tag=entry_tag, side=side, **kwargs)
        finally:
            outer = _leave(self)
        return layers.entry(self, bool(ok), pair, rate, current_time, side) if outer else ok
    return _mark(confirm_trade_entry, fn)


def _wrap_custom_stoploss(fn):
    def custom_stoploss(self, pair: str, trade, current_time: datetime, current_rate: float,
                        current_profit: float, after_fill: bool, **kwargs) -> float | None:
        _enter(self)
        try:
            own = fn(self, pair=pair, trade=trade, current_time=current_time, current_rate=current_rate,
                     current_profit=current_profit, after_fill=after_fill, **kwargs)
        finally:
            outer = _leave(self)
        return layers.stop(self, own, pair, trade, current_time, current_rate, after_fill) if outer else own
    return _mark(custom_stoploss, fn)


def _wrap_leverage(fn):
    def leverage(self, pair: str, current_time: datetime, current_rate: float, proposed_leverage: float,
                 max_leverage: float, entry_tag: str | None, side: str, **kwargs) -> float:
        _enter(self)
        try:
            own = fn(self, pair=pair, current_time=current_time, current_rate=current_rate,
                     proposed_leverage=proposed_leverage, max_leverage=max_leverage, entry_tag=entry_tag,
                     side=side, **kwargs)
        finally:
            outer = _leave(self)
        return layers.leverage(self, own, pair, current_time, current_rate, side) if outer else own
    return _mark(leverage, fn)


def _wrap_confirm_trade_exit(fn):
    def confirm_trade_exit(self, pair: str, trade, order_type: str, amount: float, rate: float,
                           time_in_force: str, exit_reason: str, current_time: datetime, **kwargs) -> bool:
        _enter(self)
        try:
            ok = fn(self, pair=pair, trade=trade, order_type=order_type, amount=amount, rate=rate,
                    time_in_force=time_in_force, exit_reason=exit_reason, current_time=current_time, **kwargs)
        finally:
            outer = _leave(self)
        return layers.exit_(self, ok, trade, exit_reason) if outer else ok
    return _mark(confirm_trade_exit, fn)


def _wrap_informative_pairs(fn):
    def informative_pairs(self):
        _enter(self)
        try:
            own = fn(self)
        finally:
            outer = _leave(self)
        return layers.informative(self, own) if outer else own
    return _mark(informative_pairs, fn)


def _mark(wrapper, fn):
    wrapper.__doc__ = fn.__doc__
    wrapper.__qualname__ = getattr(fn, "__qualname__", wrapper.__name__)
    wrapper.__module__ = getattr(fn, "__module__", wrapper.__module__)
    wrapper._liqrisk_wrapped = True
    wrapper._liqrisk_inner = fn
    return wrapper


_WRAPPERS = {
    "confirm_trade_entry": _wrap_confirm_trade_entry,
    "custom_stoploss": _wrap_custom_stoploss,
    "leverage": _wrap_leverage,
    "confirm_trade_exit": _wrap_confirm_trade_exit,
    "informative_pairs": _wrap_informative_pairs,
}


def _honest(mixin: type, name: str):
    """The mixin's ``name`` hook under a plain qualname, so freqtrade copies the trade for
    the base class's own hook that the mixin's ``super()`` call reaches."""
    if name == "custom_stoploss":
        def custom_stoploss(self, pair: str, trade, current_time: datetime, current_rate: float,
                            current_profit: float, after_fill: bool, **kwargs) -> float | None:
            return mixin.custom_stoploss(self, pair=pair, trade=trade, current_time=current_time,
                                         current_rate=current_rate, current_profit=current_profit,
                                         after_fill=after_fill, **kwargs)
        return custom_stoploss

    def confirm_trade_exit(self, pair: str, trade, order_type: str, amount: float, rate: float,
                           time_in_force: str, exit_reason: str, current_time: datetime, **kwargs) -> bool:
        return mixin.confirm_trade_exit(self, pair=pair, trade=trade, order_type=order_type, amount=amount,
                                        rate=rate, time_in_force=time_in_force, exit_reason=exit_reason,
                                        current_time=current_time, **kwargs)
    return confirm_trade_exit
