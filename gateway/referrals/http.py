"""POST /self-referral: anyone may ask for support, without an account; answered with a reference only.

The door is limited per network and overall (gateway/throttles/service.py), with the counters in the database so
every worker shares them. Past the overall rate the answer is a challenge to solve, never a refusal, so no crowd of
other callers can shut the door on a victim.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.client_address import client_address, throttle_key
from gateway.db import AsyncSession
from gateway.errors import DomainError
from gateway.referrals import service
from gateway.settings import Settings
from gateway.throttles.service import Door, DoorLimits, NetworkLimited, Proof, WorkRequired, pass_door
from gateway.victims.service import SafeContactInput
from providers.profile import CrimeCategory, Need

log = logging.getLogger("gateway.intake")

NETWORK_WINDOW_SECONDS = 600
OVERALL_WINDOW_SECONDS = 3600
CHALLENGE_TTL_SECONDS = 600
CHALLENGE_HEADER = "self-referral-challenge"
SOLUTION_HEADER = "self-referral-solution"

# Control characters reach nothing a victim meant to say, and a NUL is refused by PostgreSQL itself. Free text keeps
# tabs and line breaks; every other field is one line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# An unknown field is named back only when its name could be a field's; otherwise it may be anything the caller sent.
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _one_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("control characters are not accepted")
    return value


def _free_text(value: str) -> str:
    if _CONTROL_IN_TEXT.search(value):
        raise ValueError("control characters are not accepted")
    return value


Line = Annotated[str, AfterValidator(_one_line)]
Text = Annotated[str, AfterValidator(_free_text)]


class SafeContactBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    safe_phone: Line | None = Field(default=None, max_length=32)
    safe_times: Text | None = Field(default=None, max_length=200)
    voicemail_safe: bool = False
    letters_safe: bool = False
    perpetrator_shares_address: bool = False


class SelfReferralBody(BaseModel):
    """What a victim may tell the Hub about themselves; unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")
    given_name: Line = Field(min_length=1, max_length=100)
    family_name: Line = Field(min_length=1, max_length=100)
    consent_to_contact: bool
    date_of_birth: date | None = None
    address: Text | None = Field(default=None, max_length=500)
    postcode: Line | None = Field(default=None, max_length=12)
    phone: Line | None = Field(default=None, max_length=32)
    email: Line | None = Field(default=None, max_length=254)
    safe_contact: SafeContactBody = Field(default_factory=SafeContactBody)
    language: Line | None = Field(default=None, max_length=60)
    interpreter_needed: bool = False
    reported_to_police: bool | None = None
    # The providers' vocabularies, so the published schema lists the codes and a wrong one is refused by name.
    crime_category: CrimeCategory | None = None
    needs: list[Need] = Field(default_factory=list, max_length=10)
    what_happened: Text | None = Field(default=None, max_length=5000)


SCHEMA_PATH = "/self-referral/schema.json"


def self_referral_schema() -> dict[str, object]:
    """The body's JSON Schema, generated from the model that validates it, so the two cannot disagree."""
    schema = SelfReferralBody.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_PATH,
        **schema,
        "title": "Self-referral",
        # The rules no JSON Schema keyword says, so an integrator meets them here before meeting them as a 400.
        "description": (
            "The body of POST /self-referral, sent as application/json with an Idempotency-Key header. Unknown"
            " fields are refused. Text is one line (no control characters) except address, what_happened and"
            " safe_contact.safe_times, which may hold tabs and line breaks. consent_to_contact must be true, and"
            " at least one of phone, email, address or safe_contact.safe_phone is needed. Taken: 202 with only"
            ' {"reference": "SR-..."}.'
        ),
    }


async def serve_self_referral_schema(request: Request) -> JSONResponse:
    """GET the self-referral's published contract."""
    return JSONResponse(
        self_referral_schema(),
        media_type="application/schema+json",
        headers={"Cache-Control": "public, max-age=3600"},
    )


def _refusal(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


def _field(error: ErrorDetails) -> str:
    """The field an error is about, by name only: the values are the victim's own words and details."""
    path = ".".join(str(part) for part in error["loc"])
    if not path:
        return "body"  # not JSON, or not an object
    if error["type"] == "extra_forbidden" and not _FIELD_NAME.fullmatch(str(error["loc"][-1])):
        return "an unknown field"
    return path


def _submission(body: SelfReferralBody) -> service.SelfReferralSubmission:
    return service.SelfReferralSubmission(
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
        crime_category=body.crime_category,
        needs=frozenset(body.needs),
        what_happened=body.what_happened,
    )


def _proof(request: Request) -> Proof | None:
    challenge = request.headers.get(CHALLENGE_HEADER)
    solution = request.headers.get(SOLUTION_HEADER)
    if challenge is None and solution is None:
        return None
    return Proof(challenge=challenge or "", solution=solution or "")


def _work_required(refusal: WorkRequired) -> JSONResponse:
    message = (
        "That solution was not accepted. Solve this new challenge and send the same request again with it."
        if refusal.proof_refused
        else "Many people are writing to us just now. Solve the challenge and send the same request again with it."
    )
    challenge = refusal.challenge
    return JSONResponse(
        {
            "error": "challenge-required",
            "message": message,
            "challenge": {
                "token": challenge.token,
                "bits": challenge.bits,
                "algorithm": "sha256",
                "expires_at": challenge.expires_at.isoformat(),
            },
        },
        status_code=428,
        headers={"Cache-Control": "no-store"},
    )


class SelfReferralEndpoint:
    def __init__(self, settings: Settings, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.session_factory = session_factory
        limits = DoorLimits(
            name="self-referral",
            per_network=settings.self_referral_network_limit,
            network_window_seconds=NETWORK_WINDOW_SECONDS,
            overall=settings.self_referral_overall_limit,
            overall_window_seconds=OVERALL_WINDOW_SECONDS,
            challenge_bits=settings.self_referral_challenge_bits,
            challenge_ttl_seconds=CHALLENGE_TTL_SECONDS,
        )
        self.door = Door.with_secret(limits, settings.session_secret)

    async def handle(self, request: Request) -> JSONResponse:
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return _refusal(415, "unsupported-media-type", "Send the self-referral as application/json.")
        try:
            body = SelfReferralBody.model_validate_json(await request.body())
        except ValidationError as error:
            fields = sorted({_field(e) for e in error.errors()})
            return _refusal(400, "validation", f"Check these fields: {', '.join(fields)}.")
        key = request.headers.get("idempotency-key") or secrets.token_urlsafe(24)
        network = throttle_key(client_address(request, self.settings))
        try:
            submission = _submission(body)
            # One transaction: a request refused at the door or by a rule leaves no count and no row behind.
            async with self.session_factory() as db, db.begin():
                await pass_door(db=db, door=self.door, network=network, proof=_proof(request))
                reference = await service.submit_self_referral(db=db, submission=submission, idempotency_key=key)
        except NetworkLimited as refusal:
            log.info("self-referral refused: the caller's network is over its limit")
            return _refusal(
                429,
                "rate-limited",
                "Too many requests. Please try again later.",
                **{"Retry-After": str(refusal.retry_after_seconds)},
            )
        except WorkRequired as refusal:
            log.info("self-referral asked for a proof of work: over the overall rate")
            return _work_required(refusal)
        except DomainError as refusal:
            return _refusal(400, refusal.code.value, refusal.message)
        log.info("self-referral received")
        return JSONResponse({"reference": reference}, status_code=202)
