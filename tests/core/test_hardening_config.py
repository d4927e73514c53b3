"""Issue #15: config values that used to crash (OverflowError) or mean something else
silently ("no" is truthy) raise ConfigError naming the key."""

import numpy as np
import pytest

from liqrisk import ConfigError, LiqConfig, compute_features
from liqrisk.core.live import LiveFeatures
from liqrisk.core.synthetic import random_market


@pytest.mark.parametrize(("config", "key"), [
    ({"windows": ["999999999999w"]}, "windows"),
    ({"windows": ["12h", "5300w"]}, "windows"),
    ({"half_life_10x": "99999999999999d"}, "half_life_10x"),
    ({"tier_half_life": "999999999999w"}, "tier_half_life"),
    ({"oi_max_staleness": "999999999999w"}, "oi_max_staleness"),
    ({"funding_max_staleness": "999999999999w"}, "funding_max_staleness"),
    ({"use_mark": "no"}, "use_mark"),
    ({"use_mark": "false"}, "use_mark"),
    ({"use_mark": 0}, "use_mark"),
    ({"use_mark": None}, "use_mark"),
])
def test_bad_config_names_the_key(config, key):
    with pytest.raises(ConfigError, match=key):
        LiqConfig.from_mapping(config)


@pytest.mark.parametrize("flag", [True, False, np.bool_(True)])
def test_boolean_use_mark_is_accepted(flag):
    assert LiqConfig(use_mark=flag).use_mark == flag


def test_longest_duration_still_works():
    LiqConfig(windows=("12h", "36500d"), funding_max_staleness="36500d")


@pytest.mark.parametrize(("timeframe", "windows"), [("5m", ["5m"]), ("5m", ["3m", "5m"]), ("1h", ["1h"]),
                                                    ("1d", ["12h", "1d"])])
def test_windows_none_longer_than_one_candle_raise(timeframe, windows):
    # Levels become consumable one candle after seeding: such windows estimate 0 forever.
    m = random_market(20, seed=0, timeframe=timeframe)
    with pytest.raises(ConfigError, match=rf"windows=.*{windows[-1]}.*{timeframe} candle"):
        compute_features(m["ohlcv"], timeframe=timeframe, config={"windows": windows}, pair="BTC/USDT:USDT")
    with pytest.raises(ConfigError, match="windows="):
        LiveFeatures(pair="BTC/USDT:USDT", timeframe=timeframe, config={"windows": windows})


def test_some_windows_too_short_warn_once_per_pair(caplog):
    """The default 12h window next to 1d candles (the daily real-data set) only warns:
    the 1w window is fine, and the same-candle term still fills the short ones."""
    m = random_market(30, seed=0, timeframe="1d")
    for _ in range(2):
        compute_features(m["ohlcv"], open_interest=m["open_interest"], funding_rate=m["funding_rate"],
                         timeframe="1d", pair="ETH/USDT:USDT")
    short = [r for r in caplog.records if "not longer than one 1d candle" in r.getMessage()]
    assert len(short) == 1 and "12h" in short[0].getMessage() and "'2d'" in short[0].getMessage()


def test_window_of_two_candles_is_fine(caplog):
    m = random_market(20, seed=0, timeframe="5m")
    out = compute_features(m["ohlcv"], open_interest=m["open_interest"], funding_rate=m["funding_rate"],
                           config={"windows": ["10m"]}, pair="BTC/USDT:USDT")
    assert len(out) == 20 and not any("not longer than one" in r.getMessage() for r in caplog.records)
