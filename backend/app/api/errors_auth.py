"""HTTP status for each refusal of the auth service, so routes can share one translation."""

from __future__ import annotations

from fastapi import HTTPException

from app.auth import service

_STATUS: dict[type[service.AuthError], int] = {
    service.PasswordPolicyError: 422,
    service.InvalidInputError: 422,
    service.UserExistsError: 409,
    service.AdminExistsError: 409,
    service.UserNotFoundError: 404,
    service.TokenNotFoundError: 404,
    service.LastAdminError: 409,
    service.RoleCeilingError: 403,
}


def http_error(error: service.AuthError) -> HTTPException:
    """The problem to answer for `error`; its message is written for end users."""
    return HTTPException(_STATUS.get(type(error), 400), str(error))
