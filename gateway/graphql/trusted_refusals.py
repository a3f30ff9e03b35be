"""The refusals of trusted documents (gateway/graphql/trusted.py): stable codes, fixed messages and the exception
that carries them, answered in the gateway's JSON shape. Nothing here quotes what was sent or registered."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from gateway.graphql.trusted_models import MAX_DOCUMENT_BYTES

# Stable codes of every refusal; the messages below quote nothing that was sent or registered.
NOT_FOUND = "document-not-found"
NOT_TRUSTED = "document-not-trusted"
ID_MISMATCH = "document-id-mismatch"
BAD_REQUEST = "bad-request"
TOO_LARGE = "document-too-large"
NOT_TEXT = "document-not-text"
CLIENT_NOT_FOUND = "client-not-found"
CLIENT_CONFLICT = "document-client-conflict"
VALIDATION = "validation"

MESSAGES = {
    NOT_FOUND: "No trusted document has that id for this caller.",
    NOT_TRUSTED: "Only registered documents are run here: send the `documentId` of a registered document.",
    ID_MISMATCH: "The document's SHA-256 is not the id given with it.",
    TOO_LARGE: f"A trusted document is at most {MAX_DOCUMENT_BYTES} bytes.",
    NOT_TEXT: "A trusted document must be UTF-8 text.",
    CLIENT_NOT_FOUND: "There is no OAuth client with that client id.",
    CLIENT_CONFLICT: "That document is registered for another client; revoke it first to register it again.",
    "query-too-deep": "The document is deeper than the gateway allows.",
    "too-many-aliases": "The document has more aliases than the gateway allows.",
    "too-many-repeats": "The document selects a field more often in one selection set than the gateway allows.",
    "too-many-tokens": "The document has more tokens than the gateway allows.",
    "query-too-expensive": "The document costs more than the gateway allows.",
    VALIDATION: "The document is not valid GraphQL for this gateway's schema.",
}


class DocumentRefused(Exception):
    """A document, or a request naming one, is refused: a stable code and a message that repeats nothing sent."""

    def __init__(self, code: str, message: str | None = None, *, status: int = 400) -> None:
        self.code = code
        self.message = message or MESSAGES.get(code, "The document is refused.")
        self.status = status
        super().__init__(self.message)

    def response(self) -> Response:
        """The refusal in the gateway's JSON shape, which is also a GraphQL response holding a single error."""
        return JSONResponse(
            {
                "error": self.code,
                "message": self.message,
                "errors": [{"message": self.message, "extensions": {"code": self.code}}],
            },
            self.status,
        )
