"""The artifact store, torch-free: the record types of every stored document (schema), the atomic
writer, and the content keys of a run's inputs (fingerprint). The render stage imports only this package."""
