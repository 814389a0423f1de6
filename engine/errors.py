"""One exception hierarchy for everything the engine refuses or fails at.

The CLI maps ``exit_code`` to the process exit status and prints ``str(error)`` as one
line; the console shows it as a notification. Messages never contain secrets.
"""
from __future__ import annotations


class TenantopsError(Exception):
    """Base class: an operation failed or was refused (exit 1)."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UsageError(TenantopsError):
    """The command line itself is wrong (exit 2)."""

    exit_code = 2


class ConfigError(TenantopsError):
    """The config file is unreadable or invalid: names file, key and reason."""


class ValidationError(TenantopsError):
    """Input (slug, email, manifest, revision file ...) failed validation."""


class NotFoundError(TenantopsError):
    """A named thing (tenant, server, application, job ...) does not exist."""


class ConflictError(TenantopsError):
    """The request clashes with existing state (duplicate slug, module conflict ...)."""


class StateError(TenantopsError):
    """An illegal state transition, e.g. approving a rejected application."""


class PermissionDenied(TenantopsError):
    """The operator's role does not allow the action."""


class LockHeld(TenantopsError):
    """Another operation holds the tenant's lock."""


class SecretsError(TenantopsError):
    """No usable keyring backend, or a secret is missing."""


class ServerError(TenantopsError):
    """A database server is unreachable or refused an operation."""


class CatalogError(ValidationError):
    """The catalog (manifests or revision files) has problems.

    ``problems`` holds every problem found, one line each, so ``catalog check`` can
    report them all at once.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        first = problems[0] if problems else "catalog is invalid"
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{first}{more}")


class DriftThreshold(TenantopsError):
    """Drift at or above --fail-on (exit 3)."""

    exit_code = 3
