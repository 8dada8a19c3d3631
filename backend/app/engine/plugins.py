"""Third-party engine extensions, found through Python entry points (no fork, no edit of SecureAI).

A distribution declares, in its packaging metadata, entries in one of these groups:

    [project.entry-points."secureai.detectors"]     x = "their_pkg.detectors:XDetector"    (a DetectorSpec subclass)
    [project.entry-points."secureai.strategies"]    x = "their_pkg.strategies:X"           (a Strategy instance)
    [project.entry-points."secureai.connectors"]    x = "their_pkg.connector:XConnector"   (TargetConfig -> Connector)

Once it is installed in the same environment, packs can list the detector and `--strategies` can name the
strategy like the shipped ones. The registries read the groups here; an entry that fails to import or is not
what its group needs is skipped with a warning naming it, so one broken plugin never stops a scan.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import TypeVar

log = logging.getLogger("secureai.engine")

T = TypeVar("T")


def load_entry_points(group: str, check: Callable[[object], T]) -> list[tuple[str, T]]:
    """(entry name, `check(loaded object)`) of every entry point of `group` on the import path (`sys.path`), in
    name order; an entry whose import or check raises is left out with a warning."""
    loaded: list[tuple[str, T]] = []
    for entry in _installed(group, tuple(sys.path)):
        try:
            loaded.append((entry.name, check(entry.load())))
        except Exception as error:  # a third party's import can raise anything; it must not end the scan
            log.warning(
                "%s plugin %r (%s) skipped: %s: %s", group, entry.name, entry.value, type(error).__name__, error
            )
    return loaded


def entry_point_names(group: str) -> list[str]:
    """The names of `group`'s entry points on the import path, without importing anything."""
    return [entry.name for entry in _installed(group, tuple(sys.path))]


@functools.lru_cache(maxsize=16)
def _installed(group: str, path: tuple[str, ...]) -> tuple[EntryPoint, ...]:
    """The entry points of `group` on this import path: reading every distribution's metadata takes a while,
    so it is done once per path (a registry asks for each detector a pack lists)."""
    return tuple(sorted(entry_points(group=group), key=lambda found: found.name))
