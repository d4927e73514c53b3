"""The one error every step of the offline run raises (``liqrisk demo`` prints it and exits 1)."""

from __future__ import annotations

from liqrisk.errors import LiqriskError


class OfflineError(LiqriskError):
    """A step of the offline run failed; the message says which and how to fix it."""
