"""Issue #15: plausible-looking but wrong auxiliary data (funding in percent, mark at
another scale, taker volume above volume) gives a clear error or a warned, flagged
fallback, never silent garbage."""

import numpy as np
import pandas as pd
import pytest

from liqrisk import compute_features
from liqrisk.core.align import funding_at_close
from liqrisk.core.synthetic import random_market

PAIR = "BTC/USDT:USDT"


@pytest.fixture(scope="module")
def market():
    return random_market(600, seed=13)


def _run(m, **over):
    kw = {"open_interest": m["open_interest"], "funding_rate": m["funding_rate"], "mark": m["mark"], "pair": PAIR}
    return compute_features(over.pop("ohlcv", m["ohlcv"]), **(kw | over))


def _warnings(caplog, text):
    return [r for r in caplog.records if text in r.getMessage()]


# Funding ----------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [100.0, 100.0 * 50])  # percent; percent of a hot market
def test_funding_in_percent_is_the_funding_fallback_with_one_warning(market, caplog, scale):
    pct = market["funding_rate"].assign(funding_rate=market["funding_rate"]["funding_rate"] * scale)
    got = _run(market, funding_rate=pct)
    got_again = _run(market, funding_rate=pct)
    assert (got["liq_funding_fallback"] == 1).all()
    pd.testing.assert_frame_equal(got, _run(market, funding_rate=None))
    pd.testing.assert_frame_equal(got, got_again)
    assert len(_warnings(caplog, "are these percent")) == 1
    assert np.isnan(funding_at_close(market["ohlcv"]["date"], pct, timeframe="5m", max_staleness="12h")).all()


@pytest.mark.parametrize("median", [0.0001, 0.001, 0.0049])
def test_plausible_funding_is_used(market, caplog, median):
    rates = np.full(len(market["funding_rate"]), median)
    rates[::7] = 0.02  # a few extreme settlements do not move the median
    out = _run(market, funding_rate=market["funding_rate"].assign(funding_rate=rates))
    assert (out["liq_funding_fallback"].iloc[200:] == 0).all()
    assert not _warnings(caplog, "percent")
