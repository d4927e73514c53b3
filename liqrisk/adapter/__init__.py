"""freqtrade adapter: ``LiqRiskMixin`` adds liqrisk's rules to a strategy.

The rest of liqrisk never imports freqtrade; this package does.
"""

from liqrisk.adapter.mixin import LiqRiskMixin, liqrisk_plot_config

__all__ = ["LiqRiskMixin", "liqrisk_plot_config"]
