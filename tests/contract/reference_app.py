"""The reference implementation of tessera's HTTP API on FastAPI + Pydantic v2.

Every route tessera serves, written the way the FastAPI service it reproduces would write it,
so a differential test can send both the same requests and compare answers. State is kept in
memory; one API key (REF_API_KEY) belongs to the one client.

Run: REF_API_KEY=... uvicorn reference_app:app --port 8801
"""
import itertools
import os
import secrets
from datetime import datetime, timedelta, timezone
from typing import Literal, Optional, Union

from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Response
from fastapi.exceptions import RequestValidationError
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from pydantic import BaseModel, Field

API_KEY = os.environ.get("REF_API_KEY", "")

app = FastAPI()

CONNECTIONS: dict = {}
IDS = itertools.count(1)

MISSING = "Not authenticated: send an API key in the X-Api-Key header"
INVALID = "Invalid API key"


@app.get("/", include_in_schema=False)
def front_page():
    # tessera's front page is its documentation (a tessera addition, mirrored here).
    return RedirectResponse("/docs", status_code=307)


def presented_key(authorization: Optional[str], x_api_key: Optional[str]) -> Optional[str]:
    if x_api_key is not None and x_api_key.strip():
        return x_api_key.strip()
    if authorization is None:
        return None
    auth = authorization.strip()
    scheme, rest = auth[:6], auth[6:]
    if len(auth) < 6 or scheme.lower() != "bearer":
        return None
    if rest.startswith(":"):
        rest = rest[1:]
    elif not rest.startswith((" ", "\t")):
        return None
    rest = rest.strip()
    return rest or None


def caller(
    authorization: Union[str, None] = Header(default=None),
    x_api_key: Union[str, None] = Header(default=None),
) -> str:
    key = presented_key(authorization, x_api_key)
    if key is None:
        raise HTTPException(status_code=401, detail=MISSING, headers={"WWW-Authenticate": "Bearer"})
    if key != API_KEY:
        raise HTTPException(status_code=401, detail=INVALID, headers={"WWW-Authenticate": "Bearer"})
    return "client"


class CreateTokenRequest(BaseModel):
    scope: Literal["access"] = Field(..., description="The intended scope of the token to be generated")


class ConnectionTokenResponse(BaseModel):
    connection_token: str


class CreateConnection(BaseModel):
    customer_id: str = Field(..., max_length=64)
    retailer_id: str = Field(..., max_length=26)
    email: Optional[str] = Field(None, max_length=64)
    mobile: Optional[str] = Field(None, max_length=16)


class UpdateConnection(BaseModel):
    customer_id: Optional[str] = Field(None, max_length=64)
    email: Optional[str] = Field(None, max_length=64)
    mobile: Optional[str] = Field(None, max_length=16)
    status: Optional[Literal["disconnected"]] = None


class ConnectionResponse(BaseModel):
    connection_id: str
    customer_id: str
    retailer_id: str
    status: Literal["active", "initialized", "unauthenticated", "disconnected"]
    email: Optional[str]
    mobile: Optional[str]


class GetConnectionsResponse(BaseModel):
    connections: list[ConnectionResponse]


class TokenRequest(BaseModel):
    token: Optional[str] = Field(None, max_length=4096)
    jti: Optional[str] = Field(None, max_length=64)
    token_type_hint: Optional[str] = Field(None, max_length=64)


# Introspection and revocation are OAuth endpoints: their errors are RFC 6749's
# {"error", "error_description"} (with the same sentence as "detail"), a validation failure is
# 400 invalid_request described by its first error, and a missing client 401 invalid_client.
OAUTH_PATHS = {"/tokens/introspect", "/tokens/revoke"}
OAUTH_MISSING = (
    "Not authenticated: send your client id and an API key as the client secret (HTTP Basic, "
    "or client_id and client_secret in the body), or an API key in the X-Api-Key header"
)


def oauth_error(status, error, description, challenge=None):
    headers = {"Cache-Control": "no-store"}
    if challenge:
        headers["WWW-Authenticate"] = challenge
    body = {"error": error, "error_description": description, "detail": description}
    return JSONResponse(body, status_code=status, headers=headers)


@app.exception_handler(RequestValidationError)
async def on_validation_error(request, exc):
    if request.url.path not in OAUTH_PATHS:
        return await request_validation_exception_handler(request, exc)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "Invalid request"}
    loc = tuple(first.get("loc", ()))
    field = loc[1] if len(loc) > 1 and isinstance(loc[1], str) else "body"
    text = f"{field}: {first['msg']}"
    return oauth_error(400, "invalid_request", text)


@app.exception_handler(StarletteHTTPException)
async def on_http_error(request, exc):
    if request.url.path in OAUTH_PATHS and exc.status_code in (400, 401):
        if exc.status_code == 401:
            # Challenged with the scheme the client used: Bearer for a bearer token, else Basic.
            bearer = (not request.headers.get("x-api-key", "").strip()
                      and request.headers.get("authorization", "").strip()[:6].lower() == "bearer")
            missing = exc.detail == OAUTH_MISSING
            return oauth_error(401, "invalid_client", exc.detail,
                               "Bearer" if bearer and not missing else 'Basic realm="tessera"')
        return oauth_error(400, "invalid_request", exc.detail)
    return await http_exception_handler(request, exc)


def oauth_caller(
    authorization: Union[str, None] = Header(default=None),
    x_api_key: Union[str, None] = Header(default=None),
) -> str:
    key = presented_key(authorization, x_api_key)
    if key is None:
        raise HTTPException(status_code=401, detail=OAUTH_MISSING)
    if key != API_KEY:
        raise HTTPException(status_code=401, detail=INVALID)
    return "client"


class IntrospectRequest(BaseModel):
    token: str = Field(..., max_length=4096)
    token_type_hint: Optional[str] = Field(None, max_length=64)


EVENTS: dict = {}


def event(connection_id: str, kind: str, data: dict):
    EVENTS.setdefault(connection_id, []).append(
        {"event_id": "%026d" % next(IDS), "type": kind, "at": 0, "api_key_id": "k", "data": data}
    )


def find(connection_id: str) -> dict:
    c = CONNECTIONS.get(connection_id)
    if c is None:
        raise HTTPException(status_code=404, detail="Connection not found")
    return c


@app.post("/connections", status_code=201, response_model=ConnectionResponse, tags=["connection"])
def create_connection(body: CreateConnection, _client: str = Depends(caller)):
    cid = "%026d" % next(IDS)  # increasing, like tessera's ids
    c = {"connection_id": cid, "status": "initialized", **body.model_dump()}
    CONNECTIONS[cid] = c
    event(cid, "created", {"retailer_id": c["retailer_id"], "status": "initialized"})
    return c


@app.get("/connections", response_model=GetConnectionsResponse, tags=["connection"])
def get_connections(customer_id: str = Query(...), _client: str = Depends(caller)):
    found = [c for c in CONNECTIONS.values() if c["customer_id"] == customer_id]
    return {"connections": sorted(found, key=lambda c: c["connection_id"])}


@app.get("/connections/{connection_id}", response_model=ConnectionResponse, tags=["connection"])
def get_connection(connection_id: str = Path(...), _client: str = Depends(caller)):
    return find(connection_id)


@app.patch("/connections/{connection_id}", response_model=ConnectionResponse, tags=["connection"])
def update_connection(body: UpdateConnection, connection_id: str = Path(...), _client: str = Depends(caller)):
    c = find(connection_id)
    for field, value in body.model_dump(exclude_unset=True).items():
        if value is None and field in ("customer_id", "status"):
            continue
        c[field] = value
    return c


@app.delete("/connections/{connection_id}", status_code=204, tags=["connection"])
def delete_connection(connection_id: str = Path(...), _client: str = Depends(caller)):
    find(connection_id)
    del CONNECTIONS[connection_id]
    return Response(status_code=204)


@app.post(
    "/connections/{connection_id}/token",
    status_code=201,
    response_model=ConnectionTokenResponse,
    tags=["connection"],
)
def create_connection_token(
    body: CreateTokenRequest,
    connection_id: str = Path(..., description="A unique identifier for the connection"),
    _client: str = Depends(caller),
):
    c = find(connection_id)
    if c["status"] == "disconnected":
        raise HTTPException(
            status_code=409,
            detail="Connection is disconnected: a disconnected connection cannot be issued tokens",
        )
    return {"connection_token": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJyZWYifQ.c2ln"}


# The older API generation's connection paths (Subtotal's published SDK speaks them).
class CreateLegacyConnection(BaseModel):
    merchant_id: str = Field(..., max_length=26)
    customer_id: str = Field(..., max_length=64)


class CreateLegacyTokenRequest(BaseModel):
    scope: Literal["link", "access"]


LEGACY_STATUS = {"initialized": "Pending Link", "active": "Active", "unauthenticated": "Unauthenticated",
                 "disconnected": "Disconnected"}


@app.post("/connection", status_code=201, tags=["connection"])
def create_legacy_connection(body: CreateLegacyConnection, _client: str = Depends(caller)):
    cid = "%026d" % next(IDS)
    CONNECTIONS[cid] = {"connection_id": cid, "status": "initialized", "customer_id": body.customer_id,
                        "retailer_id": body.merchant_id, "email": None, "mobile": None}
    event(cid, "created", {"retailer_id": body.merchant_id, "status": "initialized"})
    return {"connection_id": cid}


@app.get("/connection/{connection_id}", tags=["connection"])
def get_legacy_connection(connection_id: str = Path(...), _client: str = Depends(caller)):
    c = find(connection_id)
    return {"connection_id": c["connection_id"], "customer_id": c["customer_id"], "merchant_id": c["retailer_id"],
            "status": LEGACY_STATUS[c["status"]]}


@app.post("/connection/{connection_id}/token", status_code=201, response_model=ConnectionTokenResponse,
          tags=["connection"])
def create_legacy_connection_token(
    body: CreateLegacyTokenRequest,
    connection_id: str = Path(...),
    _client: str = Depends(caller),
):
    return create_connection_token(CreateTokenRequest(scope="access"), connection_id, _client)


@app.get("/connections/{connection_id}/activity", tags=["connection"])
def get_connection_activity_log(
    connection_id: str = Path(...),
    limit: int = Query(20, ge=1, le=100),
    starting_after: Optional[str] = Query(None),
    _client: str = Depends(caller),
):
    find(connection_id)
    events = sorted(EVENTS.get(connection_id, []), key=lambda e: e["event_id"], reverse=True)
    if starting_after is not None:
        events = [e for e in events if e["event_id"] < starting_after]
    page = events[: limit + 1]
    has_more = len(page) > limit
    page = page[:limit]
    return {"events": page, "has_more": has_more, "next_cursor": page[-1]["event_id"] if has_more else None}


@app.post("/tokens/introspect", tags=["tokens"])
def introspect_token(body: IntrospectRequest, _client: str = Depends(oauth_caller)):
    # The reference signs no tokens: nothing it is shown is live.
    return {"active": False}


@app.post("/tokens/revoke", tags=["tokens"])
def revoke_token(body: TokenRequest, _client: str = Depends(oauth_caller)):
    if body.token is None and body.jti is None:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body", "token"), "msg": "Field required", "input": body.model_dump(exclude_unset=True)}]
        )
    return {}


# Link tokens, as Subtotal documents them (POST/GET /link-tokens, DELETE /link-tokens/{link_token}).
# Like POST /connections here, the reference keeps no idempotency record: the differential test
# sends no X-Subtotal-Idempotency-Key.
LINK_TOKENS: dict = {}
LINK_TOKEN_PATTERN = r"^lt_v1_[A-Za-z0-9_-]{43}$"


class CreateLinkTokenRequest(BaseModel):
    customer_id: str = Field(..., min_length=1, max_length=64)
    email: Optional[str] = Field(None, max_length=64)
    expires_in_days: int = Field(30, ge=1, le=365)


class LinkTokenMetadata(BaseModel):
    customer_id: str
    status: Literal["active", "expired", "revoked"]
    created_at: str
    expires_at: str
    revoked_at: Optional[str]


class CreateLinkTokenResponse(LinkTokenMetadata):
    link_token: str


class GetLinkTokensResponse(BaseModel):
    link_tokens: list[LinkTokenMetadata]


def rfc3339(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def link_token_status(t: dict) -> str:
    if t["revoked_at"] is not None:
        return "revoked"
    if t["expires"] <= datetime.now(timezone.utc):
        return "expired"
    return "active"


def link_token_metadata(t: dict) -> dict:
    return {"customer_id": t["customer_id"], "status": link_token_status(t), "created_at": t["created_at"],
            "expires_at": t["expires_at"], "revoked_at": t["revoked_at"]}


@app.post("/link-tokens", status_code=201, response_model=CreateLinkTokenResponse, tags=["link_tokens"])
def create_link_token(body: CreateLinkTokenRequest, _client: str = Depends(caller)):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    expires = now + timedelta(days=body.expires_in_days)
    token = "lt_v1_" + secrets.token_urlsafe(32)
    t = {"customer_id": body.customer_id, "email": body.email, "created_at": rfc3339(now),
         "expires_at": rfc3339(expires), "expires": expires, "revoked_at": None}
    LINK_TOKENS[token] = t
    return {**link_token_metadata(t), "link_token": token}


@app.get("/link-tokens", response_model=GetLinkTokensResponse, tags=["link_tokens"])
def list_link_tokens(
    customer_id: str = Query(..., min_length=1),
    status: Optional[Literal["active", "expired", "revoked"]] = None,
    _client: str = Depends(caller),
):
    found = [link_token_metadata(t) for t in LINK_TOKENS.values() if t["customer_id"] == customer_id]
    if status is not None:
        found = [t for t in found if t["status"] == status]
    return {"link_tokens": found}  # oldest first: insertion order


@app.delete("/link-tokens/{link_token}", status_code=204, tags=["link_tokens"])
def revoke_link_token(
    link_token: str = Path(..., min_length=49, max_length=49, pattern=LINK_TOKEN_PATTERN),
    _client: str = Depends(caller),
):
    t = LINK_TOKENS.get(link_token)
    if t is None:
        raise HTTPException(status_code=404, detail="Link token not found")
    if t["revoked_at"] is None:
        t["revoked_at"] = rfc3339(datetime.now(timezone.utc))
    return Response(status_code=204)
