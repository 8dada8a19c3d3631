"""CI-facing renderers of a scan result document (SARIF, JUnit XML, CSV, Markdown)."""
