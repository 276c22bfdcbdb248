"""Statistics: parameter counts, sample embeddings and distances, and the whole-split separation pass."""
