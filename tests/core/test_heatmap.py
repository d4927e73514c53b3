import numpy as np
import pytest

from liqrisk import DataError, compute_features, liquidation_heatmap
from liqrisk.core.synthetic import random_market


@pytest.mark.parametrize("window", ["6h", "1d"])
def test_heatmap_rows_sum_to_outstanding(window):
    m = random_market(900, seed=5)
    kw = {k: v for k, v in m.items() if k != "ohlcv"}
    cfg = {"windows": ["6h", "1d"], "tier_half_life": "12h"}
    feats = compute_features(m["ohlcv"], config=cfg, **kw, pair="BTC/USDT:USDT")
    start, end = m["ohlcv"]["date"].iloc[400], m["ohlcv"]["date"].iloc[700]
    hm = liquidation_heatmap(m["ohlcv"], config=cfg, window=window, start=start, end=end,
                             price_bins=300, price_range=(1.0, 1e6), **kw, pair="BTC/USDT:USDT")
    assert hm.long_usd.shape == (301, 300) and len(hm.dates) == 301
    assert hm.dates[0] == start and hm.dates[-1] == end
    rows = feats.iloc[400:701]
    np.testing.assert_allclose(hm.long_usd.sum(axis=1), rows[f"liq_long_outstanding_usd_{window}"], rtol=1e-9)
    np.testing.assert_allclose(hm.short_usd.sum(axis=1), rows[f"liq_short_outstanding_usd_{window}"], rtol=1e-9)
    # Long levels sit below short ones on average: the heatmap's two halves differ.
    centers = hm.price_centers
    assert (hm.long_usd.sum(0) * centers).sum() / hm.long_usd.sum() < (hm.short_usd.sum(0) * centers).sum() / hm.short_usd.sum()


def test_heatmap_default_grid_and_errors():
    m = random_market(300, seed=6)
    hm = liquidation_heatmap(m["ohlcv"], open_interest=m["open_interest"], window="12h", price_bins=50, pair="BTC/USDT:USDT")
    assert hm.price_edges[0] < m["ohlcv"]["low"].min() and hm.price_edges[-1] > m["ohlcv"]["high"].max()
    assert hm.total_usd.max() > 0
    with pytest.raises(DataError, match="no candles"):
        liquidation_heatmap(m["ohlcv"], start="2030-01-01", pair="BTC/USDT:USDT")
    with pytest.raises(DataError, match="price_range"):
        liquidation_heatmap(m["ohlcv"], price_range=(5, 1), pair="BTC/USDT:USDT")
