"""The simulated products and symbols: market parameters and their metadata bodies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DEFAULT_HISTORY_TRADES = 200_000
# The dump-friendly symbol reaches back before 2025-01-01, where the bulk files switch from
# milliseconds to microseconds, while staying small (about 900 trades a day).
DUMP_HISTORY_SINCE_US = int(datetime(2024, 12, 1, tzinfo=UTC).timestamp() * 1e6)


@dataclass(frozen=True)
class MarketSpec:
    """Parameters of one synthetic market (one product or symbol)."""

    product_id: str
    index: int  # stable number mixed into the seed, so products differ
    base: str
    quote: str
    base_price: float
    price_decimals: int  # tick = 10**-price_decimals
    qty_decimals: int  # size step = 10**-qty_decimals (at most 8)
    median_qty: float
    trades_per_second: float
    anchor_id: int  # roughly the newest trade id when the simulator starts
    agg_anchor_id: int = 1_000_000
    volatility: float = 0.00005  # log-price step per trade
    missing_rate: float = 0.0  # share of trade ids that never exist (sparse products)
    halted_days: float | None = None  # stopped trading this many days before the start
    fixed_history: int | None = None  # depth not overridden by `history_trades`
    history_since_us: int | None = None  # depth reaching back to this instant instead

    def depth(self, history_trades: int | None, start_us: int) -> int:
        """Number of trades of history before the start (or before the halt)."""
        if self.history_since_us is not None:
            span_s = max(30 * 86400, (start_us - self.history_since_us) / 1e6)
            return max(1000, int(span_s * self.trades_per_second))
        if self.fixed_history is not None:
            return self.fixed_history
        return history_trades if history_trades is not None else DEFAULT_HISTORY_TRADES


COINBASE_MARKETS: tuple[MarketSpec, ...] = (
    MarketSpec("BTC-USD", 1, "BTC", "USD", 63212.97, 2, 8, 0.002, 8.0, 1_040_406_590),
    MarketSpec("ETH-USD", 2, "ETH", "USD", 3401.15, 2, 8, 0.05, 5.0, 560_118_402),
    # Sparse: about 0.5% of its trade ids never exist.
    MarketSpec("SOL-USD", 3, "SOL", "USD", 145.32, 2, 8, 1.5, 3.0, 98_443_117, missing_rate=0.005),
    MarketSpec("LTC-USD", 4, "LTC", "USD", 71.24, 2, 8, 2.0, 0.5, 160_227_030),
    MarketSpec(
        "NU-USD", 5, "NU", "USD", 0.0712, 4, 2, 800.0, 0.2, 4_511_802,
        halted_days=90, fixed_history=20_000,
    ),
)  # fmt: skip
DELISTED_PRODUCTS = frozenset({"NU-USD"})

BINANCE_MARKETS: tuple[MarketSpec, ...] = (
    MarketSpec(
        "BTCUSDT", 11, "BTC", "USDT", 63190.01, 2, 5, 0.004, 20.0, 3_611_528_004,
        agg_anchor_id=2_941_803_117,
    ),
    MarketSpec(
        "ETHUSDT", 12, "ETH", "USDT", 3399.87, 2, 4, 0.08, 12.0, 1_740_212_881,
        agg_anchor_id=1_386_402_511,
    ),
    # Sparse: about 0.5% of its trade ids never exist.
    MarketSpec(
        "BNBBTC", 13, "BNB", "BTC", 0.00923, 6, 3, 1.2, 1.0, 242_113_540,
        agg_anchor_id=190_004_771, missing_rate=0.005,
    ),
    # Low-rate symbol with history back to 2024-12: cheap daily and monthly bulk dumps.
    MarketSpec(
        "LTCBTC", 14, "LTC", "BTC", 0.00118, 6, 3, 2.5, 0.01, 98_201_332,
        agg_anchor_id=80_512_009, history_since_us=DUMP_HISTORY_SINCE_US,
    ),
    # Not trading (status BREAK): history ends 30 days before the start.
    MarketSpec(
        "LUNAUSDT", 15, "LUNA", "USDT", 0.4231, 4, 2, 150.0, 0.5, 12_390_442,
        agg_anchor_id=9_810_330, halted_days=30, fixed_history=20_000,
    ),
)  # fmt: skip
BINANCE_STATUS = {"LUNAUSDT": "BREAK"}


def _decimal(decimals: int) -> str:
    return "1" if decimals == 0 else "0." + "0" * (decimals - 1) + "1"


def coinbase_product(spec: MarketSpec) -> dict[str, Any]:
    """The `/products` item of one Coinbase product."""
    delisted = spec.product_id in DELISTED_PRODUCTS
    return {
        "id": spec.product_id,
        "base_currency": spec.base,
        "quote_currency": spec.quote,
        "quote_increment": _decimal(spec.price_decimals),
        "base_increment": _decimal(spec.qty_decimals),
        "display_name": spec.product_id.replace("-", "/"),
        "min_market_funds": "1",
        "margin_enabled": False,
        "post_only": False,
        "limit_only": False,
        "cancel_only": False,
        "status": "delisted" if delisted else "online",
        "status_message": "",
        "trading_disabled": delisted,
        "fx_stablecoin": False,
        "max_slippage_percentage": "0.02000000",
        "auction_mode": False,
        "high_bid_limit_percentage": "",
    }


def binance_symbol(spec: MarketSpec) -> dict[str, Any]:
    """The `exchangeInfo.symbols[]` item of one Binance symbol."""
    tick = "%.8f" % 10**-spec.price_decimals
    step = "%.8f" % 10**-spec.qty_decimals
    return {
        "symbol": spec.product_id,
        "status": BINANCE_STATUS.get(spec.product_id, "TRADING"),
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": tick,
                "maxPrice": "1000000.00000000",
                "tickSize": tick,
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": step,
                "maxQty": "9000.00000000",
                "stepSize": step,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


# Kraken pairs by altname (what requests send). Trade ids are increasing but not dense at
# Kraken (its own docs show 61044952, 61044953, 61044956): a quarter of the ids never exist.
SPARSE = 0.25  # `missing_rate` of every Kraken pair
KRAKEN_MARKETS: tuple[MarketSpec, ...] = (
    MarketSpec(
        "XBTUSD", 21, "XXBT", "ZUSD", 63205.3, 1, 8, 0.01, 6.0, 81_203_455, missing_rate=SPARSE
    ),
    MarketSpec(
        "ETHUSD", 22, "XETH", "ZUSD", 3400.52, 2, 8, 0.3, 4.0, 71_004_217, missing_rate=SPARSE
    ),
    # A newer pair: no X/Z prefixes on the canonical name or the assets.
    MarketSpec("SOLUSD", 23, "SOL", "USD", 145.27, 2, 8, 4.0, 2.0, 12_880_104, missing_rate=SPARSE),
    MarketSpec(
        "XDGUSD", 24, "XXDG", "ZUSD", 0.1234567, 7, 8, 900.0, 1.0, 30_551_020, missing_rate=SPARSE
    ),
    MarketSpec(
        "LUNAUSD", 25, "LUNA", "ZUSD", 0.4231, 4, 8, 150.0, 0.5, 1_390_442,
        missing_rate=SPARSE, halted_days=30, fixed_history=20_000,
    ),
)  # fmt: skip
# altname -> (canonical pair name, status); wsname is base/quote without prefixes.
KRAKEN_PAIRS = {
    "XBTUSD": ("XXBTZUSD", "online"),
    "ETHUSD": ("XETHZUSD", "online"),
    "SOLUSD": ("SOLUSD", "online"),
    "XDGUSD": ("XDGUSD", "online"),
    "LUNAUSD": ("LUNAUSD", "delisted"),
}
KRAKEN_PRICE_DECIMALS = 5  # trade prices are padded to at least 5 places ("30243.40000")


def kraken_asset(code: str) -> str:
    """Kraken's display name of an asset code: legacy X/Z prefix of 4-letter codes stripped."""
    return code[1:] if len(code) == 4 and code[0] in "XZ" else code


def kraken_pair(spec: MarketSpec) -> tuple[str, dict[str, Any]]:
    """(canonical name, `/0/public/AssetPairs` entry) of one Kraken pair."""
    canonical, status = KRAKEN_PAIRS[spec.product_id]
    return canonical, {
        "altname": spec.product_id,
        "wsname": f"{kraken_asset(spec.base)}/{kraken_asset(spec.quote)}",
        "aclass_base": "currency",
        "base": spec.base,
        "aclass_quote": "currency",
        "quote": spec.quote,
        "lot": "unit",
        "cost_decimals": 5,
        "pair_decimals": spec.price_decimals,
        "lot_decimals": spec.qty_decimals,
        "lot_multiplier": 1,
        "fee_volume_currency": "ZUSD",
        "ordermin": "0.0001",
        "costmin": "0.5",
        "tick_size": _decimal(spec.price_decimals),
        "status": status,
    }
