"""tap-binance: a Singer tap for Binance and Binance.US spot trades."""
