"""Exceptions shared by every part of cardmind.

Every error raised for bad input is a :class:`InvalidInput`; the CLI turns it into a one-line
message and exit code 2, the HTTP API into a 4xx answer.

>>> try:
...     raise InvalidInput("amount_fen must be >= 0, got -5")
... except CardmindError as e:
...     print(e)
amount_fen must be >= 0, got -5
"""


class CardmindError(Exception):
    """Base class of every error cardmind raises on purpose."""


class InvalidInput(CardmindError, ValueError):
    """The caller gave something cardmind refuses: the message says what and why."""


class SensitiveDataError(InvalidInput):
    """A full card number, CVV/CVN2, PIN or password was offered: refused, never stored."""


class NotFittedError(CardmindError, RuntimeError):
    """A model or transformer was used before it was fitted or loaded."""
