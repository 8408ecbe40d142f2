"""Finding, fetching and sizing model files: discovery, downloads, memory fit, the catalog."""
