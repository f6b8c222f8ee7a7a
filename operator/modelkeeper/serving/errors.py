"""The one error a request body gets: `PayloadError`, with the HTTP status it is answered with.

Apart from `payloads` so that `binary` (the binary tensor data extension) raises it too
without the two importing each other.
"""

from __future__ import annotations

BAD_REQUEST = 400
NOT_FOUND = 404
UNPROCESSABLE = 422
UNAVAILABLE = 503


class PayloadError(ValueError):
    """A request this server will not score; `status` is 400 or 422, 404 for a model it
    does not serve, 503 for one a pool server could not load."""

    def __init__(self, message: str, status: int = UNPROCESSABLE) -> None:
        super().__init__(message)
        self.status = status
