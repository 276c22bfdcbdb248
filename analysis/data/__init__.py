"""Data sets: which files make one up and their hashes (torch-free), and reading them as uint8 arrays."""
