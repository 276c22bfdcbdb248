"""The drawing code, run by the figures step (``draw.py``, called from report/figures.py) on a store's arrays, never
by the analysis: image grids assembled as arrays, matplotlib plots on the Agg canvas, colour tables, the figures'
words. Left out of the analysis key (analysis/keys.py) and never importing torch (.importlinter)."""
