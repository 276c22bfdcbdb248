"""Watching a forward pass: one capture mechanism, the shape trace and the activation maps built on it."""
