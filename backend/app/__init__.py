"""SecureAI backend: scanner engine, platform API, CLI."""
