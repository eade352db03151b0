"""The embedder, the on-disk index (FAISS + documents + chunks), keyword search, the passage archive."""
