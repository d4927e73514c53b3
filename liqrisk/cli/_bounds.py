"""argparse ``type=`` helpers that bound every number a flag can carry, and name checks.

A number outside its range stops at the parser with exit code 2 and one line naming the
flag and the allowed range, before anything is loaded, allocated or drawn: ``--bins
1000000000`` would otherwise allocate tens of GiB, ``--days 10**9`` run for days. The
limits are what the number means, not what the machine happens to survive: a port is
0..65535, a seed fits the simulator's 32-bit seeding, a picture has no use for more price
bins than it has pixels.

Names that become file or folder names (exchange, pair) are checked here too, so
``--exchange ../../x`` cannot write outside the datadir.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable

#: Seeds of the simulator and the fault plan: what numpy's and the simulator's seeding take.
SEED_MAX = 2**32 - 1
#: Days a simulation may cover: 5 years of 1m candles per pair.
DAYS_MAX = 1825


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr and exit code 2."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def _number(text: str, kind: Callable[[str], float]) -> float | None:
    try:
        value = kind(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def int_range(lo: int, hi: int, what: str = "") -> Callable[[str], int]:
    """``type=`` for a whole number in ``lo..hi`` (inclusive). ``what`` says what it counts."""
    unit = f" ({what})" if what else ""

    def parse(text: str) -> int:
        value = _number(text, int)
        if value is None or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{text!r} must be a whole number in {lo}..{hi}{unit}")
        return int(value)

    parse.__name__ = "int"  # argparse names the type in some messages
    return parse


def float_range(lo: float, hi: float, what: str = "", *, lo_open: bool = False) -> Callable[[str], float]:
    """``type=`` for a finite number in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""
    unit = f" ({what})" if what else ""
    left = "(" if lo_open else "["

    def parse(text: str) -> float:
        value = _number(text, float)
        ok = value is not None and (lo < value if lo_open else lo <= value) and value <= hi
        if not ok:
            raise argparse.ArgumentTypeError(f"{text!r} must be a number in {left}{lo:g}, {hi:g}]{unit}")
        return float(value)

    parse.__name__ = "float"
    return parse


def positive_price(text: str) -> float:
    """``type=`` for a price in quote currency: finite and > 0."""
    value = _number(text, float)
    if value is None or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive price in quote currency")
    return float(value)


positive_price.__name__ = "float"

port = int_range(0, 65535, "0 picks a free port")
seed = int_range(0, SEED_MAX, "random seed")
days = int_range(1, DAYS_MAX, "days")


def exchange_name(text: str) -> str:
    """``type=`` for an exchange folder name (``[a-z0-9_]+``, as freqtrade's ids)."""
    from liqrisk.errors import ConfigError
    from liqrisk.tools.datadir import check_exchange_name

    try:
        return check_exchange_name(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def pair_name(text: str) -> str:
    """``type=`` for a ccxt futures symbol ``BASE/QUOTE:SETTLE`` (``[A-Z0-9]+`` parts)."""
    from liqrisk.errors import ConfigError
    from liqrisk.tools.datadir import check_pair_name

    try:
        return check_pair_name(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from e
