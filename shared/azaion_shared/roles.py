"""Roles: one definition for the api (who may upload), the ingestor (whose annotations go straight
to data/) and the edge (whether a device may publish an engine it built)."""

from __future__ import annotations

from enum import Enum

from azaion_shared.errors import ConfigError


class Role(str, Enum):  # noqa: UP042 - not StrEnum: the edge image runs Python 3.10 (JetPack 6)
    ADMIN = "Admin"
    RESOURCE_UPLOADER = "ResourceUploader"
    OPERATOR = "Operator"
    VALIDATOR = "Validator"
    DEVICE = "Device"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @classmethod
    def parse(cls, value: str) -> Role:
        """A role by its name, case-insensitively; a ConfigError names the choices."""
        found = cls.lookup(value)
        if found is None:
            raise ConfigError(f"unknown role {value!r}; one of: {', '.join(r.value for r in cls)}")
        return found

    @classmethod
    def lookup(cls, value: str | None) -> Role | None:
        """A role by its name, case-insensitively; None for a name that is no role (an annotator's
        free-text role on the stream, say)."""
        wanted = (value or "").strip().lower()
        return next((role for role in cls if role.value.lower() == wanted), None)


#: Roles that may store resources (PUT /resources/{name}); every role may read them.
UPLOAD_ROLES = frozenset({Role.ADMIN, Role.RESOURCE_UPLOADER})
#: Roles whose annotations go straight to data/ (DESIGN.md); every other role goes to data-seed/.
TRUSTED_ROLES = frozenset({Role.VALIDATOR, Role.ADMIN})


def may_upload(role: str | None) -> bool:
    return Role.lookup(role) in UPLOAD_ROLES


def is_trusted(role: str | None) -> bool:
    return Role.lookup(role) in TRUSTED_ROLES
