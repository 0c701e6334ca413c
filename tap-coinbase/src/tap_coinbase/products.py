"""Resolve the configured `product_ids` (ids or glob patterns) against GET /products."""

from __future__ import annotations

import difflib
import fnmatch
import logging
from collections.abc import Iterable, Mapping
from typing import Any

GLOB_CHARS = frozenset("*?[")


class UnknownProductError(ValueError):
    """A configured product id is not listed by Coinbase."""


def is_delisted(product: Mapping[str, Any]) -> bool:
    """True for products Coinbase no longer trades (status `delisted`)."""
    return str(product.get("status", "")).lower() == "delisted"


class ProductCatalog:
    """The products Coinbase lists, indexed by id."""

    def __init__(self, products: Iterable[Mapping[str, Any]]) -> None:
        """Index the GET /products answer by `id`."""
        self.by_id: dict[str, Mapping[str, Any]] = {p["id"]: p for p in products}

    def resolve(self, patterns: Iterable[str], logger: logging.Logger) -> list[str]:
        """Expand ids and glob patterns to listed, tradable product ids, in a stable order.

        Unknown exact ids and patterns matching nothing raise `UnknownProductError` naming
        close matches; delisted products are skipped with a warning.
        """
        resolved: list[str] = []
        for pattern in patterns:
            if GLOB_CHARS & set(pattern):
                matches = sorted(
                    pid for pid in self.by_id if fnmatch.fnmatchcase(pid, pattern.upper())
                )
                if not matches:
                    raise UnknownProductError(
                        f"tap-coinbase setting product_ids: pattern {pattern!r} matches none of "
                        f"the {len(self.by_id)} products listed by GET /products. Fix the "
                        f"pattern (ids look like 'BTC-USD')."
                    )
            else:
                matches = [self._check_known(pattern)]
            for product_id in matches:
                if product_id in resolved:
                    continue
                if is_delisted(self.by_id[product_id]):
                    logger.warning(
                        "Skipping product %s: Coinbase lists it as delisted (%s). Remove it "
                        "from product_ids to silence this warning.",
                        product_id,
                        self.by_id[product_id].get("status_message") or "no status message",
                    )
                    continue
                resolved.append(product_id)
        return resolved

    def _check_known(self, product_id: str) -> str:
        """Return the listed id for `product_id` or raise with the closest listed ids."""
        if product_id in self.by_id:
            return product_id
        if product_id.upper() in self.by_id:
            return product_id.upper()
        close = difflib.get_close_matches(product_id.upper(), list(self.by_id), n=5, cutoff=0.5)
        hint = f"Did you mean: {', '.join(close)}?" if close else "No similar product id exists."
        raise UnknownProductError(
            f"tap-coinbase setting product_ids: product {product_id!r} is not listed by GET "
            f"/products ({len(self.by_id)} products listed). {hint}"
        )
