"""Dashboard pages, one module per area (as the API has one per resource)."""
