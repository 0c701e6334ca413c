"""A deterministic synthetic market for one product, computed lazily block by block.

Trade ids are split into aligned blocks of `BLOCK` ids. Everything about a block (which ids
are missing, times, prices, sizes, sides, taker-order groups) derives from
`hash(seed, product, block)`; only a few numbers per block (duration, price move, counts) are
kept for the whole history, as prefix sums. A history of millions of trades therefore costs a
few kilobytes, and a generated block lives only in a small LRU cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from schemahub_core.sim.products import MarketSpec

BLOCK = 4096  # trade ids per block; a 1000-trade page touches at most two blocks
CHUNK = 256  # blocks whose summary numbers are drawn together
CACHE_BLOCKS = 32  # generated blocks kept per product (~1 MB each with formatted rows)
GROUP_START_P = 0.6  # chance a trade starts a new taker order (aggregate trade)
RATE_SIGMA = 0.6  # log-normal spread of the trade rate between blocks
QTY_SIGMA = 1.1  # log-normal spread of trade sizes


@dataclass
class Block:
    """The present trades of one block of ids, as columns, plus cached formatted rows."""

    ids: np.ndarray  # int64, ascending
    time_us: np.ndarray  # int64 epoch microseconds, non-decreasing
    price_ticks: np.ndarray  # int64, price / tick
    qty_units: np.ndarray  # int64, size in 1e-8 units
    buyer_maker: np.ndarray  # bool: the buyer was the resting order (taker sold)
    group_start: np.ndarray  # bool: first trade of an aggregate trade
    first_agg_id: int  # aggregate id of the block's first group
    rows: dict[str, list[str]]

    def agg_index(self) -> np.ndarray:
        """Positions of the group starts (one per aggregate trade)."""
        return np.flatnonzero(self.group_start)


class Market:
    """Lazy trade history of one product; thread-safe."""

    def __init__(
        self, spec: MarketSpec, seed: int, start_us: int, history_trades: int | None
    ) -> None:
        """Anchor the history at `start_us` (or where a halted market stopped); lazily built."""
        self.spec = spec
        self.seed = seed
        self._lock = threading.RLock()
        self._cache: OrderedDict[int, Block] = OrderedDict()
        self.halt_us: int | None = (
            None if spec.halted_days is None else start_us - int(spec.halted_days * 86400e6)
        )
        anchor_us = start_us if self.halt_us is None else self.halt_us
        ka = spec.anchor_id // BLOCK
        self._k_lo = ka
        self._k_hi = ka  # summary arrays cover blocks [_k_lo, _k_hi)
        self._dur = np.zeros(0, np.int64)
        self._inc = np.zeros(0, np.float64)
        self._missing = np.zeros(0, np.int64)
        self._groups = np.zeros(0, np.int64)
        self._extend_forward(ka + 1)
        # Block starts, log price at block starts and first aggregate id, as prefix sums.
        self._start = np.array([anchor_us - int(self._dur[0]) // 2], np.int64)
        self._logp = np.array([np.log(spec.base_price)], np.float64)
        self._agg = np.array([spec.agg_anchor_id], np.int64)
        self._recompute_prefix()
        self._first_id = 0
        newest = self.id_at_or_before(anchor_us)
        depth = spec.depth(history_trades, start_us)
        raw_first = max(1, newest - depth + 1)
        self._extend_backward(raw_first // BLOCK)
        self._first_id = self._first_group_start_at_or_after(raw_first)

    # ----- summary arrays --------------------------------------------------------------------
    def _chunk_meta(self, chunk: int) -> tuple[np.ndarray, ...]:
        rng = np.random.default_rng([self.seed, self.spec.index, chunk, 1])
        z_rate = rng.standard_normal(CHUNK)
        z_price = rng.standard_normal(CHUNK)
        missing = (
            rng.binomial(BLOCK // 2, self.spec.missing_rate * 2, CHUNK)
            if self.spec.missing_rate
            else np.zeros(CHUNK, np.int64)
        )
        groups = 1 + rng.binomial(BLOCK - missing - 1, GROUP_START_P)
        # Mean block duration is exactly BLOCK / trades_per_second: the rate varies around it.
        mean_us = BLOCK / self.spec.trades_per_second * 1e6
        stretch = np.exp(RATE_SIGMA * z_rate - RATE_SIGMA**2 / 2)
        dur = np.maximum(BLOCK, np.rint(mean_us * stretch)).astype(np.int64)
        inc = z_price * self.spec.volatility * np.sqrt(BLOCK)
        return dur, inc, missing.astype(np.int64), groups.astype(np.int64)

    def _meta_range(self, k0: int, k1: int) -> tuple[np.ndarray, ...]:
        parts: list[tuple[np.ndarray, ...]] = []
        for chunk in range(k0 // CHUNK, (k1 - 1) // CHUNK + 1):
            lo = max(k0, chunk * CHUNK) - chunk * CHUNK
            hi = min(k1, (chunk + 1) * CHUNK) - chunk * CHUNK
            parts.append(tuple(a[lo:hi] for a in self._chunk_meta(chunk)))
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(4))

    def _extend_forward(self, k_hi: int) -> None:
        if k_hi <= self._k_hi:
            return
        k_hi = max(k_hi, self._k_hi + CHUNK)  # grow in chunks, not block by block
        dur, inc, missing, groups = self._meta_range(self._k_hi, k_hi)
        self._dur = np.concatenate([self._dur, dur])
        self._inc = np.concatenate([self._inc, inc])
        self._missing = np.concatenate([self._missing, missing])
        self._groups = np.concatenate([self._groups, groups])
        self._k_hi = k_hi
        if hasattr(self, "_start"):
            self._recompute_prefix()

    def _extend_backward(self, k_lo: int) -> None:
        if k_lo >= self._k_lo:
            return
        dur, inc, missing, groups = self._meta_range(k_lo, self._k_lo)
        # Keep the anchor block where it is: the prefix sums are re-based on the old first block.
        start0, logp0, agg0 = int(self._start[0]), float(self._logp[0]), int(self._agg[0])
        self._dur = np.concatenate([dur, self._dur])
        self._inc = np.concatenate([inc, self._inc])
        self._missing = np.concatenate([missing, self._missing])
        self._groups = np.concatenate([groups, self._groups])
        self._start = np.array([start0 - int(dur.sum())], np.int64)
        self._logp = np.array([logp0 - float(inc.sum())])
        self._agg = np.array([agg0 - int(groups.sum())], np.int64)
        self._k_lo = k_lo
        self._recompute_prefix()

    def _recompute_prefix(self) -> None:
        s0, p0, a0 = int(self._start[0]), float(self._logp[0]), int(self._agg[0])
        self._start = np.concatenate([[s0], s0 + np.cumsum(self._dur)]).astype(np.int64)
        self._logp = np.concatenate([[p0], p0 + np.cumsum(self._inc)])
        self._agg = np.concatenate([[a0], a0 + np.cumsum(self._groups)]).astype(np.int64)

    def _ensure_time(self, t_us: int) -> None:
        while int(self._start[-1]) <= t_us:
            self._extend_forward(self._k_hi + CHUNK)

    # ----- blocks ----------------------------------------------------------------------------
    def block(self, k: int) -> Block:
        """Return block `k` (generated on first use, then cached)."""
        with self._lock:
            cached = self._cache.get(k)
            if cached is not None:
                self._cache.move_to_end(k)
                return cached
            if k < self._k_lo:
                raise ValueError(f"{self.spec.product_id}: block {k} predates the history")
            if k >= self._k_hi:
                self._extend_forward(k + 1)
            block = self._generate(k)
            self._cache[k] = block
            if len(self._cache) > CACHE_BLOCKS:
                self._cache.popitem(last=False)
            return block

    def _generate(self, k: int) -> Block:
        i = k - self._k_lo
        spec = self.spec
        rng = np.random.default_rng([self.seed, spec.index, k, 2])
        present = np.ones(BLOCK, bool)
        n_missing = int(self._missing[i])
        if n_missing:
            present[rng.choice(BLOCK, n_missing, replace=False)] = False
        pos = np.flatnonzero(present)
        gaps = rng.exponential(size=BLOCK + 1)
        frac = np.cumsum(gaps)[:BLOCK] / gaps.sum()
        times = self._start[i] + np.floor(frac * self._dur[i]).astype(np.int64)
        # Brownian bridge from this block's start price to the next block's start price.
        walk = np.cumsum(rng.standard_normal(BLOCK)) * spec.volatility
        t = np.arange(1, BLOCK + 1) / BLOCK
        logp = self._logp[i] + walk - t * walk[-1] + t * self._inc[i]
        ticks = np.maximum(1, np.rint(np.exp(logp) * 10**spec.price_decimals)).astype(np.int64)
        qty = np.exp(np.log(spec.median_qty) + QTY_SIGMA * rng.standard_normal(BLOCK))
        steps = np.maximum(1, np.rint(qty * 10**spec.qty_decimals)).astype(np.int64)
        qty_units = steps * 10 ** (8 - spec.qty_decimals)
        n = pos.size
        starts = np.zeros(n, bool)
        starts[0] = True
        n_groups = int(self._groups[i])
        if n_groups > 1:
            starts[1 + rng.choice(n - 1, n_groups - 1, replace=False)] = True
        first = np.flatnonzero(starts)
        member_of = np.cumsum(starts) - 1
        group_ticks = ticks[pos][first]
        # The maker side follows the tick: a down-tick means a seller hit a resting bid.
        move = np.diff(group_ticks, prepend=group_ticks[0])
        coin = rng.random(first.size) < 0.5
        group_bm = np.where(move < 0, True, np.where(move > 0, False, coin))
        return Block(
            ids=(k * BLOCK + pos).astype(np.int64),
            time_us=times[pos][first][member_of],
            price_ticks=group_ticks[member_of],
            qty_units=qty_units[pos],
            buyer_maker=group_bm[member_of],
            group_start=starts,
            first_agg_id=int(self._agg[i]),
            rows={},
        )

    # ----- lookups ---------------------------------------------------------------------------
    @property
    def first_id(self) -> int:
        """Oldest trade id served (always the start of an aggregate trade)."""
        return self._first_id

    @property
    def k_first(self) -> int:
        """Block holding the oldest trade."""
        return self._first_id // BLOCK

    def _first_group_start_at_or_after(self, trade_id: int) -> int:
        k = trade_id // BLOCK
        while True:
            b = self.block(k)
            cand = b.ids[b.group_start]
            hit = cand[cand >= trade_id]
            if hit.size:
                return int(hit[0])
            k += 1

    def id_at_or_before(self, t_us: int) -> int:
        """Newest trade id with time <= `t_us`, ignoring the halt (first_id - 1 if none)."""
        with self._lock:
            self._ensure_time(t_us)
            k = self._k_lo + int(np.searchsorted(self._start, t_us, side="right")) - 1
        while k >= self._k_lo:
            b = self.block(k)
            j = int(np.searchsorted(b.time_us, t_us, side="right"))
            if j:
                return int(b.ids[j - 1])
            k -= 1
        return self._first_id - 1

    def newest_id(self, now_us: int) -> int:
        """Newest trade id visible at `now_us` (frozen at the halt time of a halted product)."""
        if self.halt_us is not None:
            now_us = min(now_us, self.halt_us)
        return max(self.id_at_or_before(now_us), self._first_id - 1)

    def block_at_time(self, t_us: int) -> int:
        """Block whose time span contains `t_us` (clamped to the oldest block)."""
        with self._lock:
            self._ensure_time(t_us)
            k = self._k_lo + int(np.searchsorted(self._start, t_us, side="right")) - 1
        return max(k, self.k_first)

    def is_missing(self, ids: np.ndarray) -> np.ndarray:
        """Boolean mask: which of the (sorted) `ids` fall in a gap of this product's id space."""
        out = np.zeros(ids.size, bool)
        for k in np.unique(ids // BLOCK):
            sel = ids // BLOCK == k
            out[sel] = ~np.isin(ids[sel], self.block(int(k)).ids)
        return out

    def block_of_agg(self, agg_id: int) -> int:
        """Block holding aggregate trade `agg_id` (clamped to the block range known so far)."""
        with self._lock:
            i = int(np.searchsorted(self._agg, agg_id, side="right")) - 1
            return self._k_lo + min(max(i, 0), self._k_hi - self._k_lo - 1)
