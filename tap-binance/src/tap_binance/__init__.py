"""tap-binance: a Singer tap for Binance and Binance.US spot trades."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tap-binance")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"
