"""Stage 2: read an artifact store, interpret its numbers, render HTML and PDF.

Never imports torch. ``python -m report`` is the command line for both stages.
"""
