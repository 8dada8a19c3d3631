"""Importers that turn other scanners' result files into SecureAI's `AttemptRecord`s.

Teams often already have garak (or similar) runs; importing them puts those findings next to our own scans,
scored, mapped to OWASP and reported the same way, instead of leaving them in a tool-specific format.
"""
