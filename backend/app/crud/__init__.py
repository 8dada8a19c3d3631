"""Database use-cases shared by the API, the CLI and the job worker (no HTTP or CLI concerns here)."""
