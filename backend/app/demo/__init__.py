"""The deliberately vulnerable demo target. A simulator, not a model: for demos and tests only."""
