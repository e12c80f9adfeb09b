"""Model adapters, one module per model family."""
