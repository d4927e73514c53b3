"""freqtrade adapter: ``LiqRiskMixin`` adds liqrisk's rules to a strategy.

The rest of liqrisk never imports freqtrade; this package does. Every freqtrade internal
it relies on is in ``ft_compat``.
"""

from liqrisk.adapter.mixin import LiqRiskMixin
from liqrisk.adapter.report import liqrisk_plot_config

__all__ = ["LiqRiskMixin", "liqrisk_plot_config"]
