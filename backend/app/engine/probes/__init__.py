"""Probe packs (YAML data), their schema and the registry that loads and selects them."""
