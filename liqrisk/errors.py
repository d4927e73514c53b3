"""The one exception hierarchy of liqrisk.

Messages name the argument or config key, show the bad value and say how to fix it.
"""


class LiqriskError(Exception):
    """Base class of every error liqrisk raises on purpose."""


class ConfigError(LiqriskError, ValueError):
    """A configuration value is invalid. The message names the key."""


class DataError(LiqriskError, ValueError):
    """Input data cannot be used as given (unsorted, duplicated, wrong columns...)."""
