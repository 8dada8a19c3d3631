"""SecureAI backend: scanner engine, platform API, CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("secureai")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
