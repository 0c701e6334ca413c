"""Singer tap for Kraken public trades."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tap-kraken")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"
