"""Detectors: decide from a target's response whether an attack worked. Found by name in a registry.

A probe lists detector *specs* (`app.engine.probes.schema.DetectorSpec`: a name and parameters); the spec
says how it is built, so `build_detector` turns it into a `Detector` whose `detect(response, context)` returns a
`Verdict`. A new detector is one spec class (in schema.py when shipped, or a plugin's, registered under the
`secureai.detectors` entry point group: app.engine.plugins) and its implementation here.

Every detector is deterministic and offline. `judge` reports the grade the runner obtained from the
configured judge model (`AttemptContext.judge_verdict`); without one it answers fired=None. None raises on odd input.
"""

from __future__ import annotations

from app.engine.model import Detector
from app.engine.probes.schema import DetectorSpec, detector_specs, spec_class

__all__ = ["DetectorSpec", "available_detectors", "build_detector"]


def available_detectors() -> list[tuple[str, str]]:
    """(name, one-line description) of every detector packs may list: the shipped ones in definition order,
    then those of installed plugins."""
    return [(name, spec.description) for name, spec in detector_specs().items()]


def build_detector(spec: DetectorSpec) -> Detector:
    """The detector for `spec`; ValueError naming the valid detectors when the spec's name is unknown."""
    registered = spec_class(spec.name)
    if registered is None:
        raise ValueError(f"unknown detector {spec.name!r}; valid detectors: {', '.join(sorted(detector_specs()))}")
    if not isinstance(spec, registered):  # a hand-built spec, not one a pack produced
        raise ValueError(f"detector {spec.name!r} needs a {registered.__name__} spec, got {type(spec).__name__}")
    return spec.build()
