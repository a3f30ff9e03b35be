"""POST /self-referral: anyone may ask for support, without an account; rate-limited, answered with a reference only."""

from __future__ import annotations

import logging
import math
import secrets
from datetime import date

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.db import AsyncSession
from gateway.errors import DomainError
from gateway.graphql.ids import choice
from gateway.ratelimit import SlidingWindowLimiter
from gateway.referrals import service
from gateway.victims.service import SafeContactInput
from providers.profile import CrimeCategory, Need

log = logging.getLogger("gateway.intake")

PER_CALLER = SlidingWindowLimiter(limit=5, window_seconds=600)
OVERALL = SlidingWindowLimiter(limit=300, window_seconds=3600)


class SafeContactBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    safe_phone: str | None = Field(default=None, max_length=32)
    safe_times: str | None = Field(default=None, max_length=200)
    voicemail_safe: bool = False
    letters_safe: bool = False
    perpetrator_shares_address: bool = False


class SelfReferralBody(BaseModel):
    """What a victim may tell the Hub about themselves; unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")
    given_name: str = Field(min_length=1, max_length=100)
    family_name: str = Field(min_length=1, max_length=100)
    consent_to_contact: bool
    date_of_birth: date | None = None
    address: str | None = Field(default=None, max_length=500)
    postcode: str | None = Field(default=None, max_length=12)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    safe_contact: SafeContactBody = Field(default_factory=SafeContactBody)
    language: str | None = Field(default=None, max_length=60)
    interpreter_needed: bool = False
    reported_to_police: bool | None = None
    crime_category: str | None = None
    needs: list[str] = Field(default_factory=list, max_length=10)
    what_happened: str | None = Field(default=None, max_length=5000)


def _refusal(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


class SelfReferralEndpoint:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory

    async def handle(self, request: Request) -> JSONResponse:
        caller = request.client.host if request.client else "unknown"
        wait = PER_CALLER.allow(caller) or OVERALL.allow("all")
        if wait is not None:
            return _refusal(
                429,
                "rate-limited",
                "Too many requests. Please try again later.",
                **{"Retry-After": str(math.ceil(wait))},
            )
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return _refusal(415, "unsupported-media-type", "Send the self-referral as application/json.")
        try:
            body = SelfReferralBody.model_validate_json(await request.body())
        except ValidationError as error:
            # Field names only: the values are the victim's own words and details.
            fields = sorted({".".join(str(p) for p in e["loc"]) for e in error.errors()})
            return _refusal(400, "validation", f"Check these fields: {', '.join(fields)}.")
        key = request.headers.get("idempotency-key") or secrets.token_urlsafe(24)
        try:
            submission = service.SelfReferralSubmission(
                given_name=body.given_name,
                family_name=body.family_name,
                consent_to_contact=body.consent_to_contact,
                date_of_birth=body.date_of_birth,
                address=body.address,
                postcode=body.postcode,
                phone=body.phone,
                email=body.email,
                safe_contact=SafeContactInput(**body.safe_contact.model_dump()),
                language=body.language,
                interpreter_needed=body.interpreter_needed,
                reported_to_police=body.reported_to_police,
                crime_category=choice(CrimeCategory, body.crime_category, "crime category")
                if body.crime_category
                else None,
                needs=frozenset(choice(Need, n, "need") for n in body.needs),
                what_happened=body.what_happened,
            )
            async with self.session_factory() as db, db.begin():
                reference = await service.submit_self_referral(db=db, submission=submission, idempotency_key=key)
        except DomainError as refusal:
            return _refusal(400, refusal.code.value, refusal.message)
        log.info("self-referral received")
        return JSONResponse({"reference": reference}, status_code=202)
