"""ops-console: a terminal operations console for auth incidents.

Kept import-light on purpose: ``ops-console --version`` must answer in well under 0.3 s,
so nothing heavy (textual, docker, asyncssh, httpx) is imported here.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
