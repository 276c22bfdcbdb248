"""The artifact store, torch-free and a leaf (it imports nothing of analysis/ or report/ outside itself): the
record types of every stored document (schema) and the atomic writer. The render stage imports only this package;
content keys, which read the inputs, are in ``analysis.keys``."""
