"""One error type whose message is shown to the user as a single line."""


class PomonaError(Exception):
    """An expected failure caused by input or environment; the CLI prints ``error: <msg>``."""
