"""Prefect flows: one runnable flow per file. Flows only orchestrate; the work lives in the core packages."""
