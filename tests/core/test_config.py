import pytest

from liqrisk import ConfigError, LiqConfig, compute_features, required_startup_candles
from liqrisk.core.synthetic import random_market


@pytest.mark.parametrize(
    "bad,key",
    [
        ({"windows": ["1d", "1d"]}, "windows"),
        ({"windows": ["1M"]}, "windows"),
        ({"windows": []}, "windows"),
        ({"leverage_tiers": [1, 10], "leverage_weights": [1, 1]}, "leverage_tiers"),
        ({"leverage_weights": [1, 2]}, "leverage_weights"),
        ({"leverage_weights": [0, 0, 0, 0, 0]}, "leverage_weights"),
        ({"entry_weights": [1, 1]}, "entry_weights"),
        ({"tier_half_life": ["1h", "2h"]}, "tier_half_life"),
        ({"split_sensitivity": 2}, "split_sensitivity"),
        ({"bucket_width": 0}, "bucket_width"),
        ({"cluster_threshold": "high"}, "cluster_threshold"),
        ({"liquidatable_share": float("nan")}, "liquidatable_share"),
        ({"intra_turnover": -0.1}, "intra_turnover"),
        ({"intra_spread": 0.5}, "intra_spread"),
        ({"intra_oi_range": -1}, "intra_oi_range"),
        ({"turnover_per_day": float("inf")}, "turnover_per_day"),
        ({"funding_max_staleness": "soon"}, "funding_max_staleness"),
        ({"leverag_tiers": [5]}, "leverag_tiers"),
    ],
)
def test_bad_config_names_the_key(bad, key):
    with pytest.raises(ConfigError, match=key):
        LiqConfig.from_mapping(bad)


def test_compute_features_rejects_bad_config_and_timeframe():
    m = random_market(10)
    with pytest.raises(ConfigError, match="bucket_width"):
        compute_features(m["ohlcv"], config={"bucket_width": -1}, pair="BTC/USDT:USDT")
    with pytest.raises(ConfigError, match="timeframe"):
        compute_features(m["ohlcv"], timeframe="5 minutes", pair="BTC/USDT:USDT")


def test_lists_from_json_become_tuples_and_half_life_per_tier():
    cfg = LiqConfig.from_mapping({"windows": ["4h"], "tier_half_life": "6h"})
    assert cfg.windows == ("4h",)
    assert cfg.half_life_ns == (6 * 3600e9,) * 5


def test_required_startup_candles():
    # 1w of 5m candles (2016) + 12h funding staleness (144) + 2.
    assert required_startup_candles(None, "5m") == 2016 + 144 + 2
    assert required_startup_candles({"windows": ["12h"], "funding_max_staleness": "1h"}, "1h") == 12 + 3 + 2


def test_defaults_are_the_fitted_record():
    # LiqConfig()'s defaults are the real-data fit; calibrated.json is its record. If one
    # changes without the other, the README's real-data figures no longer describe the defaults.
    import json
    from pathlib import Path

    import liqrisk

    record = json.loads((Path(liqrisk.__file__).parent / "calibrated.json").read_text())
    assert LiqConfig() == LiqConfig.from_mapping(record["config"])
    assert record["test_beats_baseline"].startswith("22 of 22")
