"""The pieces of download-oi: parsing real-format metrics CSVs, stamps, fetching with faults,
and the command's one-line errors."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date

import numpy as np
import pandas as pd
import pytest

from liqrisk.cli import main
from liqrisk.errors import ConfigError
from liqrisk.tools.download import fetch as F
from liqrisk.tools.download import metrics as M
from liqrisk.tools.download.job import archive_days, archive_symbol
from tests.tools.download.conftest import PAIR, SYMBOL

HEADER = ",".join(M.ARCHIVE_COLUMNS)


def zipped(text: str, name: str = "BTCUSDT-metrics-2024-01-01.csv") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, text)
    return buf.getvalue()


def ms(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").value // 1_000_000)


def test_real_format_rows_empty_fields_duplicates_and_off_grid_times():
    text = "\n".join([
        HEADER,
        "2024-01-01 00:05:00,BTCUSDT,100243.058,12494186585.40,0.69,1.82,0.56,1.15",
        "2024-01-01 00:10:00,BTCUSDT,100180.792,12491937936.12,,,,",
        "2024-01-01 00:10:00,BTCUSDT,100181.000,12492000000.00,,,,1.97",  # a stamp seen twice
        "2024-01-01 00:14:59,BTCUSDT,100190.5,12493000000.5,0.7,1.8,0.5,1.0",  # late: still the 00:10 slot
        "2024-01-01 00:20:00,ETHUSDT,1.0,2.0,1,1,1,1",  # another symbol
        "not a time,BTCUSDT,1,2,3,4,5,6",
    ]) + "\n"
    snap = M.combine([M.read_metrics(zipped(text), SYMBOL)])
    assert snap["slot_ms"].tolist() == [ms("2024-01-01 00:05"), ms("2024-01-01 00:10")]
    # The slot keeps its latest snapshot; values are the exact doubles of the decimals.
    assert snap["open_interest_amount"].tolist() == [100243.058, 100190.5]
    assert snap["open_interest_value"].iloc[0] == float("12494186585.40")
    assert snap["sum_taker_long_short_vol_ratio"].tolist() == [1.15, 1.0]
    # The statistics are dated when known: the late 00:14:59 snapshot at 00:15, not 00:10.
    ratios = M.ratio_rows(snap)
    assert ratios["date"].tolist() == [pd.Timestamp("2024-01-01 00:05", tz="UTC"),
                                       pd.Timestamp("2024-01-01 00:15", tz="UTC")]


def test_headerless_and_epoch_ms_files_read_too():
    text = f"{ms('2024-01-01 01:00')},BTCUSDT,5,6,,,,\n"
    snap = M.read_metrics(zipped(text), SYMBOL)
    assert snap["slot_ms"].tolist() == [ms("2024-01-01 01:00")] and snap["open_interest_value"].tolist() == [6.0]


@pytest.mark.parametrize("data, why", [
    (b"not a zip", "unreadable zip"),
    (zipped("x", name="readme.txt"), "no CSV"),
    (zipped("create_time,symbol\n2024-01-01 00:00:00,BTCUSDT\n"), "sum_open_interest"),
])
def test_unreadable_files_raise_bad_metrics(data, why):
    with pytest.raises(M.BadMetrics, match=why):
        M.read_metrics(data, SYMBOL)


def test_coarser_candles_take_the_snapshot_at_their_open():
    slots = np.arange(ms("2024-01-01 00:00"), ms("2024-01-01 02:00"), 300_000, dtype=np.int64)
    snap = pd.DataFrame({"slot_ms": slots, "create_ms": slots, "open_interest_amount": np.arange(len(slots), dtype=float),
                         "open_interest_value": np.arange(len(slots), dtype=float) * 10,
                         **{c: np.nan for c in M.RATIO_COLUMNS}})
    snap.loc[12, ["open_interest_amount", "open_interest_value"]] = np.nan  # the 01:00 snapshot is missing
    h1 = M.oi_candles(snap, "1h")
    assert h1["date"].tolist() == [pd.Timestamp("2024-01-01 00:00", tz="UTC")]  # 01:00 stays a gap
    assert h1["open_interest_amount"].tolist() == [0.0]
    assert str(h1["date"].dtype) == "datetime64[ms, UTC]"
    assert len(M.oi_candles(snap, "15m")) == 7
    assert M.ratio_rows(snap).empty


@pytest.mark.parametrize("tf", ["7m", "1w", "1M", "2m"])
def test_timeframes_the_archive_cannot_give_are_refused(tf):
    with pytest.raises(ConfigError, match="timeframes"):
        M.timeframe_ms(tf)


def test_pairs_and_days():
    assert archive_symbol("1000PEPE/USDT:USDT") == "1000PEPEUSDT"
    for bad in ("BTC/USDT", "BTC/USD:BTC", "BTCUSDT"):
        with pytest.raises(ConfigError, match="BASE/QUOTE:QUOTE"):
            archive_symbol(bad)
    days = archive_days(ms("2024-01-30 12:00"), ms("2024-02-02 00:00"), today=date(2024, 2, 1))
    assert days == [date(2024, 1, 30), date(2024, 1, 31)]  # 02-01 is not published yet


def test_checksum_digest():
    digest = "ab" * 32
    assert F.digest_in(f"{digest}  BTCUSDT-metrics-2024-01-01.zip\n") == digest
    assert F.digest_in("<Error>NoSuchKey</Error>") is None and F.digest_in("") is None


def test_a_broken_zip_with_a_matching_checksum_is_not_cached(tmp_path, sim_datadir):
    from liqrisk.tools.exchange import ReplaySource, ServerThread
    from liqrisk.tools.exchange.archive import ArchiveFaults

    faults = ArchiveFaults(broken={(SYMBOL, "2025-01-03")})
    with ServerThread(ReplaySource(sim_datadir.parent), archive_faults=faults) as srv:
        bad = F.fetch_day(srv.url, tmp_path, SYMBOL, date(2025, 1, 3), F.FetchSettings(retries=0))
        good = F.fetch_day(srv.url, tmp_path, SYMBOL, date(2025, 1, 2), F.FetchSettings(retries=0))
    assert bad.status == F.BAD_ZIP and bad.path is None
    assert good.status == F.OK and F.cached_day(tmp_path, SYMBOL, date(2025, 1, 2)) == good.path
    assert [p.name for p in tmp_path.rglob("*.zip")] == [good.path.name]


def test_429_5xx_and_timeouts_are_retried_to_the_same_result(tmp_path, sim_datadir):
    from liqrisk.tools.exchange import ReplaySource, ServerThread
    from liqrisk.tools.exchange.faults import FaultPlan

    # seed 4 draws 500 x4, 503, 429 (Retry-After: 1 s) and two timeouts over these six requests
    plan = FaultPlan({"500": 0.25, "503": 0.1, "429": 0.1, "timeout": 0.1}, seed=4, delay_s=1.0)
    settings = F.FetchSettings(timeout_s=0.4, retries=10, backoff_s=0.01)
    days = [date(2025, 1, 2), date(2025, 1, 3), date(2025, 1, 5)]
    with ServerThread(ReplaySource(sim_datadir.parent), faults=plan) as srv:
        results = [F.fetch_day(srv.url, tmp_path / "faulty", SYMBOL, d, settings) for d in days]
    with ServerThread(ReplaySource(sim_datadir.parent)) as srv:
        clean = [F.fetch_day(srv.url, tmp_path / "clean", SYMBOL, d, settings) for d in days]
    assert [r.status for r in results] == [F.OK] * 3
    assert [r.path.read_bytes() for r in results] == [r.path.read_bytes() for r in clean]
    assert sum(plan._seen.values()) == 6 + 8  # six files, eight faults retried


def test_exhausted_retries_are_a_reported_gap_and_exit_1(tmp_path, sim_datadir, capsys):
    from liqrisk.tools.exchange import ReplaySource, ServerThread
    from liqrisk.tools.exchange.faults import FaultPlan

    sleeps: list[float] = []
    settings = F.FetchSettings(retries=3, backoff_s=0.5, sleep=sleeps.append)
    with ServerThread(ReplaySource(sim_datadir.parent), faults=FaultPlan({"502": 1.0})) as srv:
        result = F.fetch_day(srv.url, tmp_path, SYMBOL, date(2025, 1, 2), settings)
        assert result.status == F.FAILED and "HTTP 502" in result.detail
        assert sleeps == [0.5, 1.0, 2.0]  # exponential backoff
        rc = main(["download-oi", "--datadir", str(tmp_path / "binance"), "--pairs", PAIR, "--timerange",
                   "20250102-20250103", "--archive-url", srv.url, "--retries", "0"])
    assert rc == 1
    assert "run the same command again" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--pairs", "BTC/USDT", "--timerange", "20250101-20250102"], "BASE/QUOTE:QUOTE"),
    (["--pairs", PAIR, "--timerange", "-20250102"], "has no start"),
    (["--pairs", PAIR, "--timerange", "2025"], "--timerange"),
    (["--pairs", PAIR, "--timerange", "20250101-20250102", "--timeframes", "7m"], "multiple of 5m"),
    (["--pairs", PAIR, "--timerange", "20990101-"], "end must come after the start"),
])
def test_bad_flags_exit_2_with_one_line(tmp_path, capsys, argv, message):
    rc = main(["download-oi", "--datadir", str(tmp_path), "--archive-url", "http://127.0.0.1:9", *argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and message in err and len(err.splitlines()) == 1


def test_a_config_of_another_exchange_is_refused(tmp_path, capsys):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"exchange": {"name": "bybit", "pair_whitelist": [PAIR]}}))
    rc = main(["download-oi", "--config", str(cfg), "--timerange", "20250101-20250102"])
    assert rc == 2 and "'bybit'" in capsys.readouterr().err


def test_no_archive_at_the_url_is_one_line_not_a_year_of_retries(tmp_path, capsys):
    from tests.tools.exchange.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    rc = main(["download-oi", "--datadir", str(tmp_path), "--pairs", PAIR, "--timerange", "20240101-20250101",
               "--archive-url", url, "--retries", "1", "--timeout", "2", "--workers", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "cannot reach the archive" in err[0] and url in err[0]
