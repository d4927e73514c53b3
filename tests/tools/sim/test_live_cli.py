"""LiveMarket continues the simulated market; the ``simulate`` command checks its input."""

from __future__ import annotations

import numpy as np
import pytest

from liqrisk.cli import main
from liqrisk.tools.sim.stream import LiveMarket
from liqrisk.tools.sim.writer import simulate_datadir

PAIR = "ETH/USDT:USDT"
H8 = 8 * 3_600_000
NOW = 1_767_225_600_000 + 5 * 3_600_000 + 17 * 60_000 + 23_456  # 2026-01-01 05:17:23.456 UTC


@pytest.fixture(scope="module")
def datadir(tmp_path_factory):
    path = tmp_path_factory.mktemp("live") / "data"
    simulate_datadir(path, [PAIR], days=2, seed=3, end="2025-03-31")
    return path


def test_history_is_shifted_by_whole_funding_periods_and_continued(datadir):
    market = LiveMarket(datadir, seed=3, now_ms=NOW)
    assert market.pairs == [PAIR]
    m1 = market.frame(PAIR, "futures", "1m")
    last_open = int(m1["date"].iloc[-1].value // 1_000_000)
    assert last_open + 60_000 <= NOW < last_open + 120_000  # every closed minute, no more
    shift = int(m1["date"].iloc[0].value // 1_000_000) - (1_743_379_200_000 - 2 * 86_400_000)
    assert shift % H8 == 0 and shift > 0
    funding = market.frame(PAIR, "funding_rate", "1h")
    assert (funding["date"].astype("int64") % H8 == 0).all()
    assert funding["date"].iloc[-1].value // 1_000_000 == NOW - NOW % H8
    assert np.all(np.diff(m1["date"].astype("int64")) == 60_000)


def test_refresh_adds_closed_candles_consistent_with_5m(datadir):
    market = LiveMarket(datadir, seed=3, now_ms=NOW)
    before = market.frame(PAIR, "futures", "1m")
    assert market.frame(PAIR, "futures", "1m") is before  # cached while nothing changed
    later = NOW + 13 * 60_000
    market.refresh(later)
    m1 = market.frame(PAIR, "futures", "1m")
    assert len(m1) == len(before) + 13
    assert m1["date"].iloc[-1].value // 1_000_000 + 60_000 <= later
    m5 = market.frame(PAIR, "futures", "5m")
    tail = m1[m1["date"] >= m5["date"].iloc[-4]]
    grouped = tail.groupby(tail["date"].dt.floor("5min")).agg(
        open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last"),
        volume=("volume", "sum"),
    )
    np.testing.assert_allclose(m5.tail(4)[["open", "high", "low", "close", "volume"]].to_numpy(),
                               grouped.to_numpy())
    oi = market.frame(PAIR, "open_interest", "5m")
    # Row T is the snapshot at T: known as soon as the minute before T has closed.
    state_ms = m1["date"].iloc[-1].value // 1_000_000 + 60_000
    assert oi["date"].iloc[-1].value // 1_000_000 == state_ms - state_ms % 300_000
    assert oi["open_interest_amount"].notna().all()
    mark = market.frame(PAIR, "mark", "1h")
    assert list(mark.columns) == ["date", "open", "high", "low", "close", "volume"]
    assert market.frame(PAIR, "funding_rate", "5m") is None
    assert market.frame("DOGE/USDT:USDT", "futures", "1m") is None


def test_fresh_market_without_files(tmp_path):
    market = LiveMarket(tmp_path / "empty", pairs=["BTC/USDT:USDT"], seed=1, now_ms=NOW)
    m1 = market.frame("BTC/USDT:USDT", "futures", "1m")
    assert len(m1) > 7 * 1440
    assert m1["date"].iloc[-1].value // 1_000_000 + 60_000 <= NOW


@pytest.mark.parametrize(
    "argv",
    [
        ["--pairs", "BTCUSDT", "--days", "1"],
        ["--pairs", "BTC/USDT", "--days", "1"],
        ["--days", "0"],
        ["--days", "-3"],
        ["--end", "2025-03-31T08:30", "--days", "1"],
        ["--end", "not-a-date", "--days", "1"],
    ],
)
def test_bad_input_exits_2(tmp_path, capsys, argv):
    assert main(["simulate", "--datadir", str(tmp_path), "--no-progress", *argv]) == 2
    assert "liqrisk simulate:" in capsys.readouterr().err


def test_unwritable_datadir_exits_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["simulate", "--datadir", str(blocker), "--days", "1", "--pairs", PAIR, "--no-progress"]) == 2
    assert "liqrisk simulate:" in capsys.readouterr().err


def test_simulate_command_writes_and_reports(tmp_path, capsys):
    code = main(["simulate", "--datadir", str(tmp_path), "--days", "1", "--pairs", "XRP/USDT:USDT",
                 "--seed", "5", "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "liqrisk_truth" in out and "timerange 20250330-20250331" in out
    assert (tmp_path / "binance" / "futures" / "XRP_USDT_USDT-5m-futures.feather").is_file()
    assert (tmp_path / "binance" / "liqrisk_truth" / "liquidations.parquet").is_file()
