"""Input rules shared by every domain, each failing with a VALIDATION error naming the field."""

from __future__ import annotations

import re
import unicodedata

from app.errors import ValidationFailed

# Pragmatic email syntax: one @, a dot in the domain, no spaces or control characters.
_EMAIL = re.compile(
    r"^[^@\s\x00-\x1f]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$"
)
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?$")

PASSWORD_MIN = 10
PASSWORD_MAX = 256


def clean_text(value: str, *, field: str, max_length: int, min_length: int = 1) -> str:
    """Strip surrounding space, refuse control characters, and bound the length."""
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be text.", field=field)
    cleaned = unicodedata.normalize("NFC", value).strip()
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in cleaned):
        raise ValidationFailed(f"{field} contains control characters.", field=field)
    if len(cleaned) < min_length:
        raise ValidationFailed(
            f"{field} must not be empty."
            if min_length == 1
            else f"{field} must be at least {min_length} characters.",
            field=field,
        )
    if len(cleaned) > max_length:
        raise ValidationFailed(
            f"{field} must be at most {max_length} characters (got {len(cleaned)}).",
            field=field,
            max_length=max_length,
        )
    return cleaned


def clean_email(value: str, *, field: str = "email") -> str:
    """A syntactically valid email address, lower-cased for comparison."""
    email = clean_text(value, field=field, max_length=320)
    if not _EMAIL.match(email):
        raise ValidationFailed(f"{field} is not a valid email address.", field=field)
    return email.lower()


def check_password(value: str, *, field: str = "password") -> str:
    """A password long enough to resist guessing; spaces are allowed (passphrases)."""
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be text.", field=field)
    if len(value) < PASSWORD_MIN:
        raise ValidationFailed(f"{field} must be at least {PASSWORD_MIN} characters.", field=field)
    if len(value) > PASSWORD_MAX:
        raise ValidationFailed(f"{field} must be at most {PASSWORD_MAX} characters.", field=field)
    if len(set(value)) < 5:
        raise ValidationFailed(
            f"{field} is too easy to guess: use more varied characters.", field=field
        )
    return value


def clean_slug(value: str, *, field: str = "slug") -> str:
    """Lower-case letters, digits and inner hyphens, 1 to 48 characters."""
    slug = clean_text(value, field=field, max_length=48).lower()
    if not _SLUG.match(slug):
        raise ValidationFailed(
            f"{field} may contain only lower-case letters, digits and inner hyphens.",
            field=field,
        )
    return slug


def slugify(name: str) -> str:
    """A slug suggestion from a display name."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:40].strip("-") or "workspace"
