"""``liqrisk download-oi`` end to end against the local archive (loopback only).

The archive serves the simulator's 5m OI as daily metrics zips; 2025-01-04 is missing (404)
and 2025-01-06 corrupted (checksum mismatch). The files written must equal the simulator's
own OI files without those two days, exactly, and the two days must be reported.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liqrisk.cli import main
from tests.tools.download.conftest import CORRUPT_DAY, MISSING_DAY, PAIR, SYMBOL, TIMERANGE, read_oi, sim_oi

REPO = Path(__file__).resolve().parents[3]


def download(datadir: Path, url: str, *extra: str, timerange: str = TIMERANGE) -> int:
    return main(["download-oi", "--datadir", str(datadir), "--pairs", PAIR, "--timerange", timerange,
                 "--archive-url", url, "--timeframes", "5m", "1h", "--retries", "2", *extra])


@pytest.fixture(scope="module")
def downloaded(tmp_path_factory, archive_url):
    out = tmp_path_factory.mktemp("download-out") / "binance"
    handler = logging.getLogger("liqrisk.tools.download.job")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    keep = Keep(level=logging.WARNING)
    handler.addHandler(keep)
    try:
        rc = download(out, archive_url)
    finally:
        handler.removeHandler(keep)
    return out, rc, [r.getMessage() for r in records if r.levelno >= logging.WARNING]


def test_equals_the_simulators_oi_with_bad_days_as_gaps(downloaded, sim_datadir):
    out, rc, _ = downloaded
    assert rc == 0
    for tf in ("5m", "1h"):
        got = read_oi(out, tf)
        pd.testing.assert_frame_equal(got, sim_oi(sim_datadir, tf))
        assert got["date"].is_unique and got["date"].is_monotonic_increasing
    # 1h rows are the 5m snapshots at the hour, as openInterestHist with period=1h.
    m5, h1 = read_oi(out, "5m").set_index("date"), read_oi(out, "1h").set_index("date")
    pd.testing.assert_frame_equal(m5.loc[h1.index], h1)


def test_each_bad_day_is_one_warning_naming_it(downloaded):
    _, _, warnings = downloaded
    missing = [w for w in warnings if MISSING_DAY in w]
    corrupt = [w for w in warnings if CORRUPT_DAY in w]
    assert len(missing) == 1 and "404" in missing[0] and "gap" in missing[0]
    assert len(corrupt) == 1 and "checksum mismatch" in corrupt[0]
    # Days outside the simulated market are missing too, but one line per run of days.
    assert any("2025-01-08 … 2025-01-08" in w or "2025-01-08:" in w for w in warnings)
    assert len(warnings) == 4, warnings  # 01-01, 01-04, 01-06, 01-08


# freqtrade 2026.9's load_pair_history calls reset_index(inplace=True), which pandas 3.1 flags.
@pytest.mark.filterwarnings("ignore:The inplace keyword")
def test_files_load_with_freqtrade_and_the_engine_has_oi_where_the_archive_had_it(downloaded, sim_datadir):
    from freqtrade.data.history import load_pair_history
    from freqtrade.enums import CandleType

    import liqrisk

    out, _, _ = downloaded
    oi = load_pair_history(PAIR, "5m", out, candle_type=CandleType.OPEN_INTEREST, data_format="feather")
    candles = load_pair_history(PAIR, "5m", sim_datadir, candle_type=CandleType.FUTURES, data_format="feather")
    assert len(oi) == len(sim_oi(sim_datadir, "5m"))
    feats = liqrisk.compute_features(candles, open_interest=oi, pair=PAIR, timeframe="5m")
    fallback = feats["liq_oi_fallback"].to_numpy()
    dates = candles["date"]
    have = set(oi["date"])
    # A candle whose OI rows at its open and one step before came from the archive uses real OI.
    covered = np.array([d in have and d - pd.Timedelta("5min") in have for d in dates])
    assert covered.sum() > 1000
    assert fallback[covered].max() == 0
    # The gaps are flagged by the engine, as any OI gap.
    for day in (MISSING_DAY, CORRUPT_DAY):
        assert fallback[(dates.dt.strftime("%Y-%m-%d") == day).to_numpy()].sum() > 200

    ratios = pd.read_feather(out / "liqrisk_oi_metrics" / "BTC_USDT_USDT-5m-oi_metrics.feather")
    assert list(ratios.columns) == ["date", "count_toptrader_long_short_ratio", "sum_toptrader_long_short_ratio",
                                    "count_long_short_ratio", "sum_taker_long_short_vol_ratio"]
    assert ratios["date"].is_unique and set(ratios["date"]) <= have
    assert ratios["sum_taker_long_short_vol_ratio"].notna().all()


def test_rerun_over_an_overlapping_range_changes_nothing(downloaded, archive_url, capsys):
    out, _, _ = downloaded
    files = sorted(p for p in (out / "futures").iterdir()) + sorted((out / "liqrisk_oi_metrics").iterdir())
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    assert download(out, archive_url, timerange="20250103-20250107") == 0
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    assert after == before
    assert "+0 rows" in capsys.readouterr().out


def test_merges_with_rows_freqtrade_download_data_wrote(tmp_path, archive_url, sim_datadir):
    """The API's last days (here including the day the archive lacks) are kept, not duplicated."""
    from freqtrade.data.history import get_datahandler
    from freqtrade.enums import CandleType

    out = tmp_path / "binance"
    (out / "futures").mkdir(parents=True)
    api_rows = sim_oi(sim_datadir, "5m", drop_days=())
    api_rows = api_rows[api_rows["date"] >= pd.Timestamp("2025-01-04", tz="UTC")].reset_index(drop=True)
    get_datahandler(out, "feather").ohlcv_store(PAIR, "5m", api_rows, CandleType.OPEN_INTEREST)
    assert download(out, archive_url) == 0
    # The archive adds 01-02 and 01-03; the API's rows cover both bad days: nothing is missing.
    pd.testing.assert_frame_equal(read_oi(out, "5m"), sim_oi(sim_datadir, "5m", drop_days=()))


def test_a_killed_run_resumes_without_duplicates(tmp_path, sim_datadir):
    """Kill a slow run after it verified a few days; the next run completes from the cache."""
    from liqrisk.tools.exchange import ReplaySource, ServerThread
    from liqrisk.tools.exchange.archive import ArchiveFaults
    from liqrisk.tools.exchange.faults import FaultPlan

    out = tmp_path / "binance"
    cache = out / "liqrisk_archive" / "data" / "futures" / "um" / "daily" / "metrics" / SYMBOL
    slow = FaultPlan({"timeout": 1.0}, delay_s=0.4)  # every answer 0.4 s late, well inside the timeout
    faults = ArchiveFaults(missing={(SYMBOL, MISSING_DAY)})
    with ServerThread(ReplaySource(sim_datadir.parent), faults=slow, archive_faults=faults) as srv:
        env = dict(os.environ)
        env.pop("PYTHONWARNINGS", None)
        cmd = [sys.executable, "-m", "liqrisk.cli", "download-oi", "--datadir", str(out), "--pairs", PAIR,
               "--timerange", TIMERANGE, "--archive-url", srv.url, "--workers", "1", "--timeframes", "5m", "1h"]
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and proc.poll() is None:
                if len(list(cache.glob("*.zip.CHECKSUM"))) >= 2:
                    break
                time.sleep(0.05)
            assert proc.poll() is None, "the run ended before it could be killed"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            proc.stdout.close()
        verified = len(list(cache.glob("*.zip.CHECKSUM")))
        assert 2 <= verified < 6
        assert not (out / "futures" / "BTC_USDT_USDT-5m-open_interest.feather").exists()

        assert download(out, srv.url) == 0
    for tf in ("5m", "1h"):
        got = read_oi(out, tf)
        assert got["date"].is_unique
        pd.testing.assert_frame_equal(got, sim_oi(sim_datadir, tf, drop_days=(MISSING_DAY,)))
    assert not list(cache.glob("*.part"))
