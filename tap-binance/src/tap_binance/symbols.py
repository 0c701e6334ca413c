"""Resolve the `symbols` setting (names and glob patterns) against exchangeInfo."""

from __future__ import annotations

import difflib
import fnmatch

_GLOB_CHARS = frozenset("*?[")


class UnknownSymbolError(Exception):
    """A configured symbol (or pattern) matches nothing on the exchange."""


def resolve_symbols(requested: list[str], exchange_symbols: list[dict], api_url: str) -> list[str]:
    """Expand names and glob patterns into exchange symbols, in config order, without repeats.

    An explicit name must exist (any status, so delisted history stays reachable); a pattern
    matches only symbols whose status is TRADING.
    """
    known = [entry["symbol"] for entry in exchange_symbols]
    trading = [entry["symbol"] for entry in exchange_symbols if entry.get("status") == "TRADING"]
    known_set = set(known)
    resolved: dict[str, None] = {}
    for item in requested:
        wanted = item.strip().upper()
        if _GLOB_CHARS & set(wanted):
            matches = fnmatch.filter(trading, wanted)
            if not matches:
                raise UnknownSymbolError(
                    f"The symbols pattern {item!r} matches no TRADING symbol on {api_url}. "
                    "Check the pattern (patterns use shell globs such as *USDT or BTC*) and "
                    "the api_url (Binance.US lists fewer symbols than binance.com)."
                )
            resolved.update(dict.fromkeys(sorted(matches)))
        elif wanted in known_set:
            resolved[wanted] = None
        else:
            close = difflib.get_close_matches(wanted, known, n=5, cutoff=0.6)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise UnknownSymbolError(
                f"Unknown symbol {item!r}: {api_url} has no such symbol in exchangeInfo.{hint} "
                "Fix the `symbols` setting (names are like BTCUSDT, without separator)."
            )
    return list(resolved)
