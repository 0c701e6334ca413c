"""Resolve the `pairs` setting (altnames and glob patterns) against GET /0/public/AssetPairs."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_GLOB_CHARS = frozenset("*?[")
# Kraken's own codes for assets known elsewhere by another name.
ASSET_ALIASES = {"XBT": "BTC", "XDG": "DOGE"}


class UnknownPairError(ValueError):
    """A configured pair (or pattern) matches nothing Kraken lists."""


@dataclass(frozen=True)
class Pair:
    """One Kraken pair: altname (what requests and records use) and its assets."""

    altname: str
    canonical: str
    base_asset: str
    quote_asset: str


def asset_name(code: str) -> str:
    """Common name of a Kraken asset as written in `wsname` (XBT -> BTC, XDG -> DOGE)."""
    return ASSET_ALIASES.get(code, code)


def pair_of(canonical: str, entry: Mapping[str, Any]) -> Pair:
    """The `Pair` of one AssetPairs entry.

    Assets come from `wsname` ("XBT/USD"), which carries no legacy X/Z prefixes, instead of
    `base`/`quote` ("XXBT"/"ZUSD"): stripping prefixes by rule would also cut real names.
    """
    base, _, quote = str(entry["wsname"]).partition("/")
    return Pair(entry["altname"], canonical, asset_name(base), asset_name(quote))


def resolve_pairs(requested: list[str], asset_pairs: Mapping[str, Mapping[str, Any]]) -> list[Pair]:
    """Expand altnames and glob patterns into pairs, in config order, without repeats.

    A name may be the altname (XBTUSD) or canonical name (XXBTZUSD) of any listed pair; a
    pattern matches the altnames of pairs whose status is `online`.
    """
    by_altname = {entry["altname"]: pair_of(c, entry) for c, entry in asset_pairs.items()}
    by_canonical = {pair.canonical: pair for pair in by_altname.values()}
    online = [e["altname"] for e in asset_pairs.values() if e.get("status", "online") == "online"]
    resolved: dict[str, Pair] = {}
    for item in requested:
        wanted = item.strip().upper()
        if _GLOB_CHARS & set(wanted):
            matches = sorted(fnmatch.filter(online, wanted))
            if not matches:
                raise UnknownPairError(
                    f"tap-kraken setting pairs: pattern {item!r} matches none of the "
                    f"{len(online)} online pairs listed by GET /0/public/AssetPairs. Fix the "
                    "pattern (altnames look like XBTUSD, ETHUSD, SOLUSD)."
                )
            resolved.update({name: by_altname[name] for name in matches})
        elif wanted in by_altname or wanted in by_canonical:
            pair = by_altname.get(wanted) or by_canonical[wanted]
            resolved[pair.altname] = pair
        else:
            close = difflib.get_close_matches(wanted, list(by_altname), n=5, cutoff=0.6)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise UnknownPairError(
                f"tap-kraken setting pairs: unknown pair {item!r}: GET /0/public/AssetPairs "
                f"lists no such altname or pair name.{hint} Bitcoin is XBT at Kraken "
                "(XBTUSD), Dogecoin XDG."
            )
    return list(resolved.values())
