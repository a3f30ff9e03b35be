"""Rules for the authorisation server's records: clients, users, issued tokens, revocation, throttling."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, literal, or_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select

from gateway.auth.hashing import digest, hash_password, keyed_digest, new_token
from gateway.auth.models import ClientAssertionUse, IssuedToken, LoginThrottle, OAuthClient, User
from gateway.auth.principal import Principal, Role, Scope, parse_scopes, scopes_for_roles
from gateway.clock import utc_now
from gateway.db import AsyncSession, UTCDateTime
from gateway.organisations.models import Organisation

log = logging.getLogger("gateway.oauth")
UTC_DATETIME = UTCDateTime()

CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105  (a method name, not a secret)
PRIVATE_KEY_JWT = "private_key_jwt"
CLIENT_AUTH_METHODS = (CLIENT_SECRET_BASIC, PRIVATE_KEY_JWT)
MACHINE_GRANT_TYPES = ["client_credentials"]
BROWSER_GRANT_TYPES = ["authorization_code", "refresh_token"]


class AuthAdminError(ValueError):
    """An administrative request that cannot be carried out; the message says why."""


async def organisation_by_slug(*, db: AsyncSession, slug: str) -> Organisation:
    """The organisation with this slug, or AuthAdminError naming the slug."""
    organisation = (await db.exec(select(Organisation).where(Organisation.slug == slug))).first()
    if organisation is None:
        raise AuthAdminError(f"no organisation with slug {slug!r}")
    return organisation


@dataclass(frozen=True, slots=True)
class NewClient:
    client: OAuthClient
    secret: str | None  # shown once, never stored


async def add_client(
    *,
    db: AsyncSession,
    organisation_slug: str,
    name: str,
    scopes: str,
    jwks: dict[str, Any] | None = None,
    redirect_uris: list[str] | None = None,
    client_id: str | None = None,
    secret: str | None = None,
) -> NewClient:
    """Register a confidential client; with JWKS it uses private_key_jwt, otherwise a hashed secret."""
    organisation = await organisation_by_slug(db=db, slug=organisation_slug)
    try:
        allowed = parse_scopes(scopes)
    except ValueError as error:
        raise AuthAdminError(str(error)) from error
    if not allowed:
        raise AuthAdminError("a client needs at least one scope")
    for uri in redirect_uris or []:
        if "#" in uri or not uri.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise AuthAdminError(f"redirect URI {uri!r} must be https (or loopback http) without a fragment")
    if jwks is not None and not isinstance(jwks.get("keys"), list):
        raise AuthAdminError("the JWKS must be an object with a `keys` list")
    plain_secret = None if jwks is not None else (secret or new_token(32))
    client = OAuthClient(
        client_id=client_id or f"{organisation.slug}-{new_token(9)}",
        organisation_id=organisation.id or 0,
        name=name,
        auth_method=PRIVATE_KEY_JWT if jwks is not None else CLIENT_SECRET_BASIC,
        secret_hash=hash_password(plain_secret) if plain_secret else None,
        jwks=jwks,
        scopes=sorted(s.value for s in allowed),
        grant_types=BROWSER_GRANT_TYPES if redirect_uris else MACHINE_GRANT_TYPES,
        redirect_uris=list(redirect_uris or []),
    )
    db.add(client)
    await db.flush()
    return NewClient(client=client, secret=plain_secret)


async def find_client(*, db: AsyncSession, client_id: str) -> OAuthClient | None:
    return (await db.exec(select(OAuthClient).where(OAuthClient.client_id == client_id))).first()


async def list_clients(*, db: AsyncSession) -> list[tuple[OAuthClient, str]]:
    """Every client with its organisation's slug, by client id."""
    statement = (
        select(OAuthClient, Organisation.slug)
        .join(Organisation, col(Organisation.id) == col(OAuthClient.organisation_id))
        .order_by(col(OAuthClient.client_id))
    )
    return [(client, slug) for client, slug in (await db.exec(statement)).all()]


async def disable_client(*, db: AsyncSession, client_id: str) -> OAuthClient:
    """Disable a client: it gets no new tokens and its issued tokens stop working on the next request."""
    client = await find_client(db=db, client_id=client_id)
    if client is None:
        raise AuthAdminError(f"no client {client_id!r}")
    client.active = False
    client.disabled_at = utc_now()
    db.add(client)
    await db.flush()
    return client


async def rotate_client_secret(*, db: AsyncSession, client_id: str) -> str:
    """Replace a secret-authenticated client's secret; the old one stops working at once."""
    client = await find_client(db=db, client_id=client_id)
    if client is None:
        raise AuthAdminError(f"no client {client_id!r}")
    if client.auth_method != CLIENT_SECRET_BASIC:
        raise AuthAdminError(f"client {client_id!r} authenticates with {client.auth_method}, not a secret")
    secret = new_token(32)
    client.secret_hash = hash_password(secret)
    db.add(client)
    await db.flush()
    return secret


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def add_user(
    *, db: AsyncSession, organisation_slug: str, email: str, roles: list[str], password: str | None = None
) -> tuple[User, str]:
    """Create a member of staff with roles; returns the user and the password (generated if not given)."""
    organisation = await organisation_by_slug(db=db, slug=organisation_slug)
    unknown = sorted(r for r in roles if r not in Role._value2member_map_)
    if unknown or not roles:
        raise AuthAdminError(f"unknown roles: {', '.join(unknown)}" if unknown else "a user needs a role")
    address = normalise_email(email)
    if "@" not in address or len(address) > 254:
        raise AuthAdminError("that is not an e-mail address")
    if (await db.exec(select(User).where(User.email == address))).first() is not None:
        raise AuthAdminError("a user with that e-mail address exists")
    plain = password or new_token(18)
    if len(plain) < 12:
        raise AuthAdminError("passwords must be at least 12 characters")
    user = User(
        organisation_id=organisation.id or 0,
        email=address,
        password_hash=hash_password(plain),
        roles=sorted(set(roles)),
    )
    db.add(user)
    await db.flush()
    return user, plain


async def set_user_active(*, db: AsyncSession, email: str, active: bool) -> User:
    """Deactivate or reactivate a user; deactivation stops their tokens on the next request."""
    user = (await db.exec(select(User).where(User.email == normalise_email(email)))).first()
    if user is None:
        raise AuthAdminError("no such user")
    user.active = active
    db.add(user)
    await db.flush()
    return user


async def record_issued_token(
    *,
    db: AsyncSession,
    jti: str,
    client: OAuthClient,
    user_id: int | None,
    organisation_id: int,
    scope: str,
    issued_at: datetime,
    expires_at: datetime,
    refresh_token: str | None,
    refresh_ttl_seconds: int,
    family_id: str | None,
) -> IssuedToken:
    """Remember an issued token by its jti, and its refresh token only as a hash."""
    row = IssuedToken(
        jti=jti,
        client_pk=client.id or 0,
        user_id=user_id,
        organisation_id=organisation_id,
        scope=scope,
        issued_at=issued_at,
        expires_at=expires_at,
        refresh_token_hash=digest(refresh_token) if refresh_token else None,
        refresh_expires_at=issued_at + timedelta(seconds=refresh_ttl_seconds) if refresh_token else None,
        family_id=family_id,
    )
    db.add(row)
    await db.flush()
    return row


async def revoke_family(*, db: AsyncSession, family_id: str) -> int:
    """Revoke every access and refresh token descended from one sign-in; returns how many."""
    now = utc_now()
    result = await db.exec(
        update(IssuedToken).where(col(IssuedToken.family_id) == family_id).values(revoked_at=now, refresh_used_at=now)
    )
    return int(result.rowcount or 0)


async def revoke_token(*, db: AsyncSession, token: IssuedToken, with_family: bool) -> None:
    """Revoke one token, or with its family (a revoked refresh token takes its descendants with it)."""
    if with_family and token.family_id:
        await revoke_family(db=db, family_id=token.family_id)
        return
    token.revoked_at = utc_now()
    db.add(token)
    await db.flush()


async def remember_client_assertion(*, db: AsyncSession, client_pk: int, jti: str, expires_at: datetime) -> bool:
    """Record a client assertion's jti; False when it was seen before (a replay)."""
    seen = (
        await db.exec(
            select(ClientAssertionUse).where(ClientAssertionUse.client_pk == client_pk, ClientAssertionUse.jti == jti)
        )
    ).first()
    if seen is not None:
        return False
    db.add(ClientAssertionUse(client_pk=client_pk, jti=jti, expires_at=expires_at))
    await db.flush()
    return True


@dataclass(frozen=True, slots=True)
class TokenState:
    """What the resource server must know about a token beyond its signature, read in one query."""

    revoked: bool
    client_active: bool
    user_active: bool | None
    organisation_id: int
    organisation_slug: str
    organisation_active: bool
    user_roles: list[str]


async def token_state(*, db: AsyncSession, jti: str) -> TokenState | None:
    """Revocation, client, user and organisation status for a token id, in one indexed query."""
    statement = (
        select(  # type: ignore[call-overload]
            IssuedToken.revoked_at,
            OAuthClient.active,
            User.active,
            User.roles,
            Organisation.id,
            Organisation.slug,
            Organisation.active,
        )
        .join(OAuthClient, col(OAuthClient.id) == col(IssuedToken.client_pk))
        .join(Organisation, col(Organisation.id) == col(IssuedToken.organisation_id))
        .outerjoin(User, col(User.id) == col(IssuedToken.user_id))
        .where(IssuedToken.jti == jti)
    )
    row = (await db.exec(statement)).first()
    if row is None:
        return None
    revoked_at, client_active, user_active, roles, org_id, org_slug, org_active = row
    return TokenState(
        revoked=revoked_at is not None,
        client_active=bool(client_active),
        user_active=user_active,
        organisation_id=org_id or 0,
        organisation_slug=org_slug,
        organisation_active=bool(org_active),
        user_roles=list(roles or []),
    )


def principal_from(*, claims: dict[str, object], state: TokenState) -> Principal:
    """The caller, from verified claims and the token's current state."""
    granted = frozenset(Scope(s) for s in str(claims.get("scope", "")).split() if s in Scope._value2member_map_)
    roles = frozenset(Role(r) for r in state.user_roles if r in Role._value2member_map_)
    if state.user_active is not None:
        # A person's rights are what their roles allow now, not what they had when the token was issued.
        granted &= scopes_for_roles(roles)
    subject = str(claims["sub"])
    return Principal(
        organisation_id=state.organisation_id,
        organisation_slug=state.organisation_slug,
        scopes=granted,
        roles=roles,
        user_id=int(subject.removeprefix("user:")) if subject.startswith("user:") else None,
        client_id=str(claims.get("client_id")),
        token_id=str(claims["jti"]),
    )


# -- the sign-in throttle ---------------------------------------------------------------------------------
#
# Three counters, each a row of login_throttles told apart by the prefix of its key, and each key a keyed hash so
# the table holds neither e-mail addresses nor network addresses:
#
#   address  every failure from one network (an IPv4 address, an IPv6 /64): stops one address spraying many accounts
#   pair     one account from one network: stops one address guessing one account
#   account  one account from every network together: caps guessing by many addresses, and the only counter that
#            refuses the account's owner, so it is set well above the pair limit: an address that reaches its pair
#            limit is refused without touching this counter, so locking the account takes failures from at least
#            ceil(account limit / pair limit) networks, not five guesses from anywhere.
#
# An attempt claims all three (one atomic upsert each, committed) before any password is checked, so parallel
# guesses cannot all pass a check made before any of them is counted. A counter counts for lockout_seconds from
# its first failure, then starts again; the claim that reaches its limit locks it for lockout_seconds. A right
# password clears the account's two counters and gives the address back the attempt it claimed.

ACCOUNT = "account"
PAIR = "account_address"
ADDRESS = "address"
_KEY_PREFIXES = {ACCOUNT: "acct:", PAIR: "pair:", ADDRESS: "addr:"}
_KEY_LENGTH = 64  # login_throttles.account_key


@dataclass(frozen=True, slots=True)
class LoginLimits:
    per_account_from_one_address: int
    per_account: int
    per_address: int
    lockout_seconds: int


@dataclass(frozen=True, slots=True)
class SignInKeys:
    """The throttle rows one sign-in attempt counts against, in the order they are claimed."""

    address: str
    pair: str
    account: str

    def by_counter(self) -> tuple[tuple[str, str], ...]:
        # Always the same order, so two attempts never wait on each other's rows in opposite orders (no deadlock).
        return ((ADDRESS, self.address), (PAIR, self.pair), (ACCOUNT, self.account))


@dataclass(frozen=True, slots=True)
class SignInClaim:
    keys: SignInKeys
    newly_locked: tuple[str, ...]  # the counters this attempt took to their limit, if it turns out to fail


class SignInThrottled(Exception):
    """A counter this attempt needs is locked; nothing was counted and no password may be checked."""

    def __init__(self, counter: str) -> None:
        self.counter = counter
        super().__init__(f"the {counter} sign-in counter is locked")


def sign_in_keys(*, session_secret: str, email: str, address_key: str) -> SignInKeys:
    """The three throttle keys for an e-mail address tried from a network (`throttle_key` of the client address)."""
    account = normalise_email(email)

    def key(counter: str, value: str) -> str:
        prefix = _KEY_PREFIXES[counter]
        return prefix + keyed_digest(session_secret, f"{counter}\0{value}")[: _KEY_LENGTH - len(prefix)]

    return SignInKeys(
        address=key(ADDRESS, address_key), pair=key(PAIR, f"{account}\0{address_key}"), account=key(ACCOUNT, account)
    )


def _limit(limits: LoginLimits, counter: str) -> int:
    return {
        ADDRESS: limits.per_address,
        PAIR: limits.per_account_from_one_address,
        ACCOUNT: limits.per_account,
    }[counter]


async def _claim_one(*, db: AsyncSession, key: str, limit: int, lockout_seconds: int) -> int | None:
    """Count one failure against a key unless it is locked: the count now, or None when locked (nothing counted)."""
    now = utc_now()
    moment = literal(now, UTC_DATETIME)
    until = literal(now + timedelta(seconds=lockout_seconds), UTC_DATETIME)
    failures, locked_until = col(LoginThrottle.failures), col(LoginThrottle.locked_until)
    window_over = or_(locked_until.is_(None), locked_until <= moment)
    insert = postgresql_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(LoginThrottle)
        .values(account_key=key, failures=1, locked_until=until)
        .on_conflict_do_update(
            index_elements=[col(LoginThrottle.account_key)],
            set_={
                "failures": case((window_over, 1), else_=failures + 1),
                "locked_until": case((window_over, until), (failures + 1 >= limit, until), else_=locked_until),
            },
            # A locked row is left as it is: the upsert updates nothing and returns no row.
            where=or_(window_over, failures < limit),
        )
        .returning(failures)
    )
    row = (await db.exec(statement)).first()
    return None if row is None else int(row[0])


async def claim_sign_in_attempt(*, db: AsyncSession, keys: SignInKeys, limits: LoginLimits) -> SignInClaim:
    """Count an attempt against its address, its account from that address and its account, before any password is
    checked; SignInThrottled when any is locked. The caller commits the claim before checking, and rolls back on
    SignInThrottled so a refused attempt counts nowhere."""
    newly_locked = []
    for counter, key in keys.by_counter():
        limit = _limit(limits, counter)
        count = await _claim_one(db=db, key=key, limit=limit, lockout_seconds=limits.lockout_seconds)
        if count is None:
            raise SignInThrottled(counter)
        if count == limit:
            newly_locked.append(counter)
    return SignInClaim(keys=keys, newly_locked=tuple(newly_locked))


async def settle_sign_in_attempt(
    *, db: AsyncSession, claim: SignInClaim, succeeded: bool, user_id: int | None, lockout_seconds: int
) -> None:
    """A right password clears its account's counters and hands the address its attempt back; a wrong one stays
    counted, and any counter it took to its limit is logged for the administrator (keys and ids, never addresses)."""
    keys = claim.keys
    if succeeded:
        await db.exec(delete(LoginThrottle).where(col(LoginThrottle.account_key).in_([keys.pair, keys.account])))
        await db.exec(
            update(LoginThrottle)
            .where(col(LoginThrottle.account_key) == keys.address, col(LoginThrottle.failures) > 0)
            .values(failures=col(LoginThrottle.failures) - 1)
        )
        return
    for counter in claim.newly_locked:
        log.warning(
            "sign-in locked",
            extra={
                "event": "sign_in_locked",
                "throttle": counter,
                "throttle_key": dict(keys.by_counter())[counter],
                "user_id": user_id if counter != ADDRESS else None,
                "locked_seconds": lockout_seconds,
            },
        )
