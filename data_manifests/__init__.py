"""Data manifests (JSON, one per source), installed as package data of dnaconv.data_manifests."""
