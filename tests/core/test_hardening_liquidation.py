"""Issue #15: liquidation_price refuses inputs that make its formula divide by zero
(leverage 0 returned -inf as a price)."""

import numpy as np
import pytest

from liqrisk import ConfigError, liquidation_price


@pytest.mark.parametrize("leverage", [0, -5, 0.0, np.inf, np.nan, [10.0, 0.0]])
def test_liquidation_price_refuses_non_positive_leverage(leverage):
    with pytest.raises(ConfigError, match="leverage"):
        liquidation_price(100.0, leverage, side="long", maintenance_margin_rate=0.004)


@pytest.mark.parametrize("mmr", [1.0, 1.5, -0.1, np.nan])
def test_liquidation_price_refuses_impossible_mmr(mmr):
    with pytest.raises(ConfigError, match="maintenance_margin_rate"):
        liquidation_price(100.0, 10, side="long", maintenance_margin_rate=mmr)


def test_liquidation_price_still_takes_arrays():
    lp = liquidation_price(np.array([100.0, 200.0]), np.array([10.0, 1.0]), side="short", maintenance_margin_rate=0.004)
    assert np.all(np.isfinite(lp)) and lp[0] > 100.0
