"""Scan engine: probes, detectors and the runner that sends attacks to a target."""
