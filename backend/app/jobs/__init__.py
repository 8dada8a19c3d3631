"""Scans as jobs: run a stored scan with the engine, checkpoint each attempt in the database, resume, cancel."""
