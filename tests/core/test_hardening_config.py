"""Issue #15: config values that used to crash (OverflowError) or mean something else
silently ("no" is truthy) raise ConfigError naming the key."""

import numpy as np
import pytest

from liqrisk import ConfigError, LiqConfig


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
