"""The core every whistle-voip process shares: the bus, the message catalogue and the store."""

__version__ = "0.1.0"
APP_VERSION = __version__
