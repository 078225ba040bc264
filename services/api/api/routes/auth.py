"""Health and login (``POST /login``: a JWT for the account, with failed logins throttled)."""

from fastapi import APIRouter, HTTPException, Request, status

from api.deps import ServicesDep, unauthorized
from api.errors import Busy
from azaion_shared import http_contract as contract

router = APIRouter()


@router.get(contract.HEALTH, response_model=contract.Health, tags=["ops"])
def healthz(found: ServicesDep) -> contract.Health:
    """`ok` once the user database answers (the compose health check)."""
    found.users.list()  # the database answers
    return contract.Health()


def client_address(request: Request, trusted_proxies: list[str]) -> str:
    """The peer, or behind a trusted reverse proxy the last address before it in X-Forwarded-For."""
    peer = request.client.host if request.client else "unknown"
    if peer not in trusted_proxies:
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    outside = [h for h in hops if h not in trusted_proxies]
    return outside[-1] if outside else peer


@router.post(contract.LOGIN, response_model=contract.LoginResponse, tags=["auth"])
def login(body: contract.LoginRequest, request: Request, found: ServicesDep) -> contract.LoginResponse:
    """A JWT for an account's email and password (HS256, valid `AZAION_API__TOKEN_MINUTES`); failed
    attempts are throttled per account and per address (429 with `Retry-After`)."""
    account, address = body.email.strip().lower(), client_address(request, found.options.trusted_proxies)
    wait = max(found.per_account.retry_after(account), found.per_address.retry_after(address))
    if wait:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed logins; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    try:
        with found.hashes.slot():  # each argon2 check takes 64 MiB: a bounded number at once
            user = found.users.authenticate(account, body.password) if "@" in account else None
    except Busy:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "busy checking other logins; retry shortly",
            headers={"Retry-After": "1"},
        ) from None
    if user is None:
        found.per_account.add(account)
        found.per_address.add(address)
        raise unauthorized("wrong email or password")
    found.per_account.clear(account)
    token = found.issuer.issue(user.email, user.role.value, found.users.token_version(user.email))
    return contract.LoginResponse(token=token)
