"""Cryptographic primitives: password hashing, opaque tokens, and JWT access tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.b64 import urlsafe_text
from app.cache.local import LocalTier
from app.config import AuthSettings


class _Expiring(Protocol):
    @property
    def expires_at(self) -> dt.datetime: ...


C = TypeVar("C", bound=_Expiring)  # the claims of a kind of token


class Passwords:
    """Argon2id hashing with the configured cost."""

    def __init__(self, settings: AuthSettings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        # Verifying against a dummy hash when the user does not exist keeps log-in timing
        # from revealing which emails have accounts.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        """A salted argon2id hash of `password`."""
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches; constant work whether or not the hash exists."""
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and bool(
                password_hash
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the stored hash used weaker parameters than configured now."""
        return self._hasher.check_needs_rehash(password_hash)


def token_hash(token: str) -> bytes:
    """SHA-256 of an opaque token: tokens are long and random, so no salt or stretching."""
    return hashlib.sha256(token.encode()).digest()


def random_secret(nbytes: int = 32) -> str:
    """URL-safe random text with `nbytes` of entropy."""
    return secrets.token_urlsafe(nbytes)


def scoped_token(prefix: str, workspace_id: uuid.UUID) -> str:
    """An opaque token that names its workspace: `<prefix>_<workspace hex>_<secret>`.

    The workspace part lets the server scope the lookup before it reads anything, so the
    hash is found under row-level security; a forged workspace part simply finds nothing.
    """
    return f"{prefix}_{workspace_id.hex}_{random_secret()}"


def parse_scoped_token(token: str, prefix: str) -> uuid.UUID | None:
    """The workspace a scoped token names, or None when it is malformed."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != prefix or len(parts[2]) < 20:
        return None
    try:
        return uuid.UUID(hex=parts[1])
    except ValueError:
        return None


def constant_time_equals(a: str, b: str) -> bool:
    """Compare secrets without leaking where they differ."""
    return hmac.compare_digest(a.encode(), b.encode())


class VerifiedTokens(Generic[C]):
    """Signed tokens that verified, remembered with their claims until each expires.

    A client sends the same token with every request until it expires, and checking it again
    (PyJWT validates the encoding character by character in Python, then the signature and
    the claims) cost 50-70 us a request. Only the expiry changes a verified token's validity
    (the secret and issuer are fixed for this instance), so a verified token is remembered,
    in a bounded LRU, until its `exp`; a token that fails is never remembered. Whatever else
    a token is checked against (a session, a key, an origin) is checked on every request
    regardless.
    """

    def __init__(self, verify: Callable[[str], C | None], cache_size: int) -> None:
        self._verify = verify
        self._verified = LocalTier(cache_size)  # token -> claims, each until its expiry

    def decode(self, token: str) -> C | None:
        """The claims of a valid, unexpired token, or None."""
        now = time.monotonic()
        known = self._verified.get(token, now)
        if known is not None:
            return known  # type: ignore[return-value]  # only claims are put
        generation = self._verified.generation
        claims = self._verify(token)
        if claims is not None:
            left = (claims.expires_at - dt.datetime.now(dt.UTC)).total_seconds()
            self._verified.put(token, claims, left, now, generation)
        return claims


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What an access token says."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    workspace_id: uuid.UUID | None
    expires_at: dt.datetime


class AccessTokens:
    """Short-lived HS256 JWTs for users, verified once per token (`VerifiedTokens`); whether
    the log-in session is still active is checked in the database on every request."""

    def __init__(self, settings: AuthSettings, secret: str, cache_size: int = 4096) -> None:
        self._settings = settings
        self._secret = secret
        self._verified = VerifiedTokens(self._verify, cache_size)

    def issue(
        self, user_id: uuid.UUID, session_id: uuid.UUID, workspace_id: uuid.UUID | None = None
    ) -> tuple[str, dt.datetime]:
        """A signed token and its expiry."""
        now = dt.datetime.now(dt.UTC)
        expires = now + dt.timedelta(seconds=self._settings.access_token_ttl_s)
        claims: dict[str, Any] = {
            "iss": self._settings.jwt_issuer,
            "sub": str(user_id),
            "sid": str(session_id),
            "iat": now,
            "exp": expires,
            "typ": "access",
        }
        if workspace_id:
            claims["wid"] = str(workspace_id)
        return jwt.encode(claims, self._secret, algorithm="HS256"), expires

    def decode(self, token: str) -> AccessClaims | None:
        """The claims of a valid, unexpired token, or None."""
        return self._verified.decode(token)

    def _verify(self, token: str) -> AccessClaims | None:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                issuer=self._settings.jwt_issuer,
                options={"require": ["exp", "sub", "sid", "iss"]},
            )
            if claims.get("typ") != "access":
                return None
            wid = claims.get("wid")
            return AccessClaims(
                user_id=uuid.UUID(claims["sub"]),
                session_id=uuid.UUID(claims["sid"]),
                workspace_id=uuid.UUID(wid) if wid else None,
                expires_at=dt.datetime.fromtimestamp(claims["exp"], dt.UTC),
            )
        except (jwt.PyJWTError, ValueError, KeyError):
            return None


@dataclass(frozen=True, slots=True)
class VisitorClaims:
    """What a widget visitor token says."""

    workspace_id: uuid.UUID
    key_id: uuid.UUID
    visitor_id: str
    origin: str
    identified: bool
    expires_at: dt.datetime


VISITOR_PREFIX = "vt_"


class VisitorTokens:
    """Short-lived tokens the widget gets in exchange for a publishable key and its origin,
    plus the signed visitor ids that let a browser keep its conversations across page loads.
    Bound to the origin they were issued for. Verified once per token (`VerifiedTokens`);
    the origin, and the key's being active and still allowing it, are checked on every
    request (tenancy/auth.py)."""

    def __init__(
        self, settings: AuthSettings, secret: str, ttl_s: int = 3600, cache_size: int = 4096
    ) -> None:
        self._settings = settings
        self._secret = secret
        self._verified = VerifiedTokens(self._verify, cache_size)
        self._visitor_key = hashlib.sha256(b"parley-visitor-id:" + secret.encode()).digest()
        self._identity_key = hashlib.sha256(b"parley-identity:" + secret.encode()).digest()
        self.ttl_s = ttl_s

    def issue(
        self,
        workspace_id: uuid.UUID,
        key_id: uuid.UUID,
        visitor_id: str,
        origin: str,
        *,
        identified: bool,
    ) -> tuple[str, dt.datetime]:
        """A signed visitor token and its expiry."""
        now = dt.datetime.now(dt.UTC)
        expires = now + dt.timedelta(seconds=self.ttl_s)
        claims = {
            "iss": self._settings.jwt_issuer,
            "typ": "visitor",
            "wid": str(workspace_id),
            "kid": str(key_id),
            "vid": visitor_id,
            "org": origin,
            "idn": identified,
            "iat": now,
            "exp": expires,
        }
        return VISITOR_PREFIX + jwt.encode(claims, self._secret, algorithm="HS256"), expires

    def decode(self, token: str) -> VisitorClaims | None:
        """The claims of a valid, unexpired visitor token, or None."""
        return self._verified.decode(token)

    def _verify(self, token: str) -> VisitorClaims | None:
        if not token.startswith(VISITOR_PREFIX):
            return None
        try:
            claims = jwt.decode(
                token[len(VISITOR_PREFIX) :],
                self._secret,
                algorithms=["HS256"],
                issuer=self._settings.jwt_issuer,
                options={"require": ["exp", "wid", "kid", "vid", "org"]},
            )
            if claims.get("typ") != "visitor":
                return None
            return VisitorClaims(
                workspace_id=uuid.UUID(claims["wid"]),
                key_id=uuid.UUID(claims["kid"]),
                visitor_id=str(claims["vid"]),
                origin=str(claims["org"]),
                identified=bool(claims.get("idn")),
                expires_at=dt.datetime.fromtimestamp(claims["exp"], dt.UTC),
            )
        except (jwt.PyJWTError, ValueError, KeyError):
            return None

    def _visitor_mac(self, workspace_id: uuid.UUID, raw: str) -> str:
        mac = hmac.new(self._visitor_key, f"{workspace_id}:{raw}".encode(), hashlib.sha256)
        return urlsafe_text(mac.digest()[:16])

    def new_visitor_id(self, workspace_id: uuid.UUID) -> str:
        """A fresh anonymous visitor id, signed so a browser cannot pick someone else's."""
        raw = "v_" + uuid.uuid4().hex
        return f"{raw}.{self._visitor_mac(workspace_id, raw)}"

    def identified_visitor_id(self, workspace_id: uuid.UUID, external_id: str) -> str:
        """The stable visitor id of a user the customer's server vouched for."""
        digest = hashlib.sha256(f"{workspace_id}:{external_id}".encode()).hexdigest()[:32]
        raw = "u_" + digest
        return f"{raw}.{self._visitor_mac(workspace_id, raw)}"

    def verify_visitor_id(self, workspace_id: uuid.UUID, signed: str) -> bool:
        """True when `signed` is a visitor id this server issued for the workspace."""
        raw, _, mac = signed.partition(".")
        if not raw or not mac or len(signed) > 100:
            return False
        return hmac.compare_digest(mac, self._visitor_mac(workspace_id, raw))

    def identity_secret(self, key_id: uuid.UUID, version: int) -> str:
        """The secret a customer's server uses to sign its users' ids for this key (derived,
        never stored; a new version replaces it)."""
        mac = hmac.new(self._identity_key, f"{key_id}:{version}".encode(), hashlib.sha256)
        return "wis_" + urlsafe_text(mac.digest())

    def verify_identity(
        self, key_id: uuid.UUID, version: int, user_id: str, signature: str
    ) -> bool:
        """True when `signature` is hex HMAC-SHA256(identity secret, user_id)."""
        expected = hmac.new(
            self.identity_secret(key_id, version).encode(), user_id.encode(), hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(expected, signature.strip().lower())


class Security:
    """The password hasher and token signer a process shares, built once from settings."""

    def __init__(self, settings: AuthSettings, jwt_secret: str) -> None:
        self.settings = settings
        self.passwords = Passwords(settings)
        self.access_tokens = AccessTokens(settings, jwt_secret)
        self.visitor_tokens = VisitorTokens(settings, jwt_secret)
