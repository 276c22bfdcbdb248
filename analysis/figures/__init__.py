"""Figures: image grids assembled as arrays, matplotlib plots on the Agg canvas, colour tables."""
