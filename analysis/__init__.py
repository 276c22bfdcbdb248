"""Stage 1: compute everything about a checkpoint and write the artifact store.

This is the only package that imports torch, and only in the modules that need
it: ``config``, ``errors``, ``keys``, ``store`` and ``data`` stay
torch-free so the report stage and the CLI can use them cheaply.
"""
