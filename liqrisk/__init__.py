"""liqrisk: liquidation-cluster risk for freqtrade.

The public API is what this module re-exports. Everything under ``liqrisk.core`` and
names with a leading underscore are internal.
"""

from liqrisk.config import LiqConfig
from liqrisk.errors import ConfigError, DataError, LiqriskError
from liqrisk.frame import compute_features, feature_columns, required_startup_candles, run_engine
from liqrisk.heatmap import Heatmap, liquidation_heatmap
from liqrisk.liqmap import LiquidationMap, liquidation_map
from liqrisk.liquidation import liquidation_factor, liquidation_price
from liqrisk.live import LiveFeatures
from liqrisk.tiers import MarginTier, TierTable, tier_table

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
