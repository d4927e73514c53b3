"""liqrisk: liquidation-cluster risk for freqtrade.

The public API is what this module re-exports. Everything under ``liqrisk.core`` and
names with a leading underscore are internal.
"""

from liqrisk.config import LiqConfig
from liqrisk.core.assemble import feature_columns
from liqrisk.core.features import compute_features, required_startup_candles, run_engine
from liqrisk.core.grids import Heatmap, LiquidationMap, liquidation_heatmap, liquidation_map
from liqrisk.core.liquidation import liquidation_factor, liquidation_price
from liqrisk.core.live import LiveFeatures
from liqrisk.core.tiers import MarginTier, TierTable, tier_table
from liqrisk.errors import ConfigError, DataError, LiqriskError

__all__ = [
    "ConfigError",
    "DataError",
    "Heatmap",
    "LiqConfig",
    "LiqriskError",
    "LiquidationMap",
    "LiveFeatures",
    "MarginTier",
    "compute_features",
    "feature_columns",
    "required_startup_candles",
    "run_engine",
    "TierTable",
    "liquidation_factor",
    "liquidation_heatmap",
    "liquidation_map",
    "liquidation_price",
    "tier_table",
]
__version__ = "0.1.0"
