"""The one error type a user sees as a single line at the command line."""


class InputError(Exception):
    """Bad input: the message names the problem and says how to fix it."""
