"""Fixtures of the download-oi tests: a small simulated datadir and the local exchange serving
its open interest as Binance's public archive, with one missing and one corrupted day.

Everything is on 127.0.0.1; the simulated market is 6 days, [2025-01-02, 2025-01-08).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

PAIR = "BTC/USDT:USDT"
SYMBOL = "BTCUSDT"
END = "2025-01-08"
DAYS = 6
MISSING_DAY = "2025-01-04"
CORRUPT_DAY = "2025-01-06"
#: A range wider than the data on both sides, crossing both bad days.
TIMERANGE = "20250101-20250109"


@pytest.fixture(scope="session")
def sim_datadir(tmp_path_factory) -> Path:
    from liqrisk.tools.sim.writer import simulate_datadir

    root = tmp_path_factory.mktemp("download-sim")
    simulate_datadir(root, [PAIR], days=DAYS, seed=11, end=END)
    return root / "binance"


@pytest.fixture(scope="session")
def archive_url(sim_datadir):
    from liqrisk.tools.exchange import ReplaySource, ServerThread
    from liqrisk.tools.exchange.archive import ArchiveFaults

    faults = ArchiveFaults(missing={(SYMBOL, MISSING_DAY)}, corrupt={(SYMBOL, CORRUPT_DAY)})
    with ServerThread(ReplaySource(sim_datadir.parent), archive_faults=faults) as srv:
        yield srv.url


def sim_oi(sim_datadir: Path, timeframe: str, drop_days=(MISSING_DAY, CORRUPT_DAY)) -> pd.DataFrame:
    """The simulator's OI file without the rows of ``drop_days`` (what the archive can give)."""
    df = pd.read_feather(sim_datadir / "futures" / f"BTC_USDT_USDT-{timeframe}-open_interest.feather")
    keep = ~df["date"].dt.strftime("%Y-%m-%d").isin(list(drop_days))
    return df[keep].reset_index(drop=True)


def read_oi(datadir: Path, timeframe: str) -> pd.DataFrame:
    return pd.read_feather(Path(datadir) / "futures" / f"BTC_USDT_USDT-{timeframe}-open_interest.feather")
