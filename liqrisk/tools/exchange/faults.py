"""Injected failures: Binance-style 429s, 5xx answers and answers slower than the client's timeout.

Spec: ``429:0.05,500:0.02,timeout:0.01`` — per request probabilities, summed at most 1. Whether a
request fails depends only on the seed, the request (method, path, query) and how many times
that same request was seen before, so a run is reproducible even when requests arrive in a
different order, and a client that retries the same request eventually gets through.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from dataclasses import dataclass, field

from liqrisk.errors import ConfigError

#: Paths a client needs to start at all; exempt from faults unless asked otherwise.
STARTUP_PATHS: frozenset[str] = frozenset(
    {"/fapi/v1/time", "/fapi/v1/exchangeInfo", "/fapi/v1/ping", "/api/v3/time", "/api/v3/exchangeInfo",
     "/dapi/v1/exchangeInfo"}
)

#: Seconds the server tells a rate-limited client to wait (Binance's ``Retry-After`` header).
RETRY_AFTER_S = 1


@dataclass(frozen=True)
class Fault:
    """What to do with one request: ``kind`` is "status" (answer ``status``) or "timeout"."""

    kind: str
    status: int = 0


@dataclass
class FaultPlan:
    """Fault probabilities and the deterministic draw. ``delay_s``: how long a "timeout" answer
    sleeps (seconds), which must exceed the client's timeout (ccxt's default is 10 s)."""

    rates: dict[str, float]
    seed: int = 0
    delay_s: float = 15.0
    include_startup: bool = False
    _seen: Counter = field(default_factory=Counter, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def draw(self, method: str, path: str, query: str) -> Fault | None:
        if not self.rates or (path in STARTUP_PATHS and not self.include_startup):
            return None
        key = f"{method} {path}?{query}"
        with self._lock:
            n = self._seen[key]
            self._seen[key] += 1
        digest = hashlib.blake2b(f"{self.seed}|{key}|{n}".encode(), digest_size=8).digest()
        u = int.from_bytes(digest, "big") / 2.0**64
        acc = 0.0
        for name, rate in self.rates.items():
            acc += rate
            if u < acc:
                return Fault("timeout") if name == "timeout" else Fault("status", int(name))
        return None


def parse_faults(spec: str | None) -> dict[str, float]:
    """``"429:0.05,500:0.02,timeout:0.01"`` -> ``{"429": 0.05, "500": 0.02, "timeout": 0.01}``.

    Kinds: ``429``, ``418`` (Binance's IP ban), any 5xx status, ``timeout``. Rates in [0, 1],
    summing to at most 1. Raises ConfigError naming the bad part.
    """
    if spec is None or not spec.strip():
        return {}
    rates: dict[str, float] = {}
    for part in spec.split(","):
        name, sep, value = part.strip().partition(":")
        name = name.strip().lower()
        if not sep:
            raise ConfigError(f"fault spec part {part!r} has no rate; write KIND:RATE, e.g. 429:0.05")
        if name != "timeout" and not (name in ("418", "429") or (name.isdigit() and 500 <= int(name) <= 599)):
            raise ConfigError(f"fault kind {name!r} is unknown; use 429, 418, a 5xx status or timeout")
        try:
            rate = float(value)
        except ValueError:
            raise ConfigError(f"fault rate {value!r} of {name} is not a number") from None
        if not 0.0 <= rate <= 1.0:
            raise ConfigError(f"fault rate {rate} of {name} is outside [0, 1]")
        rates[name] = rates.get(name, 0.0) + rate
    if sum(rates.values()) > 1.0 + 1e-12:
        raise ConfigError(f"fault rates sum to {sum(rates.values()):.3f}; they must sum to at most 1")
    return rates
