"""What every portal response carries: a strict CSP with no inline script, no framing, no caching of pages."""

from __future__ import annotations

import hmac

from gateway.auth.hashing import keyed_digest
from gateway.web.templating import INLINE_SCRIPT_HASH

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        f"script-src 'self' '{INLINE_SCRIPT_HASH}'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)

# The sign-in page (the authorisation server's, in the portal's design) ends with form-action, because the server
# adds the client's redirect origin to that last directive (gateway/auth/http.py page_headers).
SIGN_IN_POLICY = "; ".join(
    [part for part in CONTENT_SECURITY_POLICY.split("; ") if not part.startswith("form-action")]
    + ["form-action 'self'"]
)

PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Every portal page may show personal data, or a list of cases, so none is kept by the browser or a proxy.
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

CSRF_FIELD = "csrf_token"


def csrf_token(session_secret: str, csrf_secret: str) -> str:
    """The token every form of one session carries: bound to that session, useless in another."""
    return keyed_digest(session_secret, "portal-csrf:" + csrf_secret)


def csrf_ok(session_secret: str, csrf_secret: str, submitted: str) -> bool:
    if not csrf_secret or not submitted or len(submitted) > 128:
        return False
    return hmac.compare_digest(csrf_token(session_secret, csrf_secret), submitted)
