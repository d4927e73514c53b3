"""``liqrisk.tools.datadir``: names that become paths, unreadable candle files and timeranges
outside the data are each reported as what they are (#15)."""

from __future__ import annotations

import pandas as pd
import pytest

from liqrisk.errors import ConfigError, DataError
from liqrisk.tools.datadir import check_exchange_name, check_pair_name, load_market, resolve_datadir
from liqrisk.tools.exchange.source import ReplaySource
from tests.tools.exchange.conftest import write_datadir

PAIR = "BTC/USDT:USDT"
END = pd.Timestamp("2025-03-31", tz="UTC")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_datadir(tmp_path_factory.mktemp("datadir"), END, days=2)


@pytest.mark.parametrize("name", ["binance", "bybit", "gate_io", "okx5"])
def test_exchange_ids_pass(name):
    assert check_exchange_name(name) == name


@pytest.mark.parametrize("name", ["../escape", "..", "", "Binance", "bin/ance", "bin ance", "a\\b", "x" * 41])
def test_exchange_names_that_could_leave_the_datadir_are_refused(name):
    with pytest.raises(ConfigError, match="not an exchange id"):
        check_exchange_name(name)


@pytest.mark.parametrize("pair", ["BTC/USDT:USDT", "1000PEPE/USDT:USDT", "ETH/USDC:USDC"])
def test_futures_symbols_pass(pair):
    assert check_pair_name(pair) == pair


@pytest.mark.parametrize("pair", ["../x", "BTC/USDT", "BTC/USDT:USDT/../../x", "btc/usdt:usdt", "BTC/USDT:US.DT",
                                  "BTC_USDT_USDT", ""])
def test_other_pair_shapes_are_refused(pair):
    with pytest.raises(ConfigError, match="BASE/QUOTE:SETTLE"):
        check_pair_name(pair)


def test_config_exchange_name_is_checked(tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text('{"exchange": {"name": "../../etc"}}')
    with pytest.raises(ConfigError, match="exchange.name"):
        resolve_datadir(cfg)


def test_replay_source_refuses_a_traversing_exchange(data):
    with pytest.raises(ConfigError, match="not an exchange id"):
        ReplaySource(data, exchange="../binance")


@pytest.mark.parametrize(("candle_type", "content", "words"), [
    ("futures", b"", ["is unreadable", "empty (0 bytes)"]),
    ("futures", "truncate", ["is unreadable", "truncated"]),
    ("open_interest", b"not an arrow file", ["open_interest.feather is unreadable"]),
])
def test_an_unreadable_candle_file_is_named_with_the_reason(tmp_path, data, candle_type, content, words):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(data, root)
    path = root / "binance" / "futures" / f"BTC_USDT_USDT-5m-{candle_type}.feather"
    path.write_bytes(path.read_bytes()[:2000] if content == "truncate" else content)
    with pytest.raises(DataError) as e:
        load_market(PAIR, "5m", datadir=root)
    assert str(path) in str(e.value)
    for word in words:
        assert word in str(e.value)


@pytest.mark.parametrize(("timerange", "words"), [
    ("20250401-20250410", ["20250401-20250410 starts after the data's end", "2025-03-29 00:00 to 2025-03-30 23:55"]),
    ("20250331-", ["starts after the data's end"]),
    ("20240101-20240201", ["ends before the data's start"]),
    ("1735689600-1735693200", ["(2025-01-01 00:00 UTC to 2025-01-01 01:00 UTC) ends before"]),
])
def test_a_timerange_outside_the_data_says_so(data, timerange, words):
    with pytest.raises(DataError) as e:
        load_market(PAIR, "5m", datadir=data, timerange=timerange, startup_candles=500)
    for word in words:
        assert word in str(e.value), str(e.value)


def test_a_timerange_overlapping_the_data_loads(data):
    market = load_market(PAIR, "5m", datadir=data, timerange="20250330-20250401")
    assert market.ohlcv["date"].iloc[-1] == END - pd.Timedelta("5min")
