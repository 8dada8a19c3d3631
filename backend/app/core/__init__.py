"""Small shared building blocks with no dependency on the web, the database or the engine."""
