"""MCP servers as a target of their own: list what they offer a model and check it (`secureai mcp scan`)."""
