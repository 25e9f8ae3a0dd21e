"""The two failures a handler reports besides success: the caller's mistake (4xx, naming the
field) and an unreachable online store (503, with the reason). Anything else is a bug (500)."""

from __future__ import annotations

from pomona.errors import PomonaError


class RequestError(PomonaError):
    """A request that passed the typed model but is still invalid (e.g. a horizon past the
    model's maximum); answered with HTTP ``status`` and a message naming ``field``."""

    def __init__(self, field: str, message: str, status: int = 400):
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.status = field, message, status

    def body(self) -> dict:
        return {"error": f"invalid request: {self.field}: {self.message}",
                "detail": [{"loc": [self.field], "msg": self.message}]}


class StoreUnavailable(PomonaError):
    """The online store could not be read or written; answered with 503 and ``reason``."""

    def __init__(self, reason: str):
        super().__init__(f"online store unavailable: {reason}")
        self.reason = reason

    def body(self) -> dict:
        return {"error": str(self), "reason": self.reason}


class NotReady(PomonaError):
    """The service is still loading its champion or the feature store (503)."""

    def body(self) -> dict:
        return {"error": str(self)}
