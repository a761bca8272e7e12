#!/usr/bin/env python3
"""Verify a tessera connection token in Python, as a resource server would (PyJWT).

    pip install "pyjwt[crypto]"
    python3 verify.py https://tessera.example.com/.well-known/jwks.json "$TOKEN"

The key is looked up by the token's `kid` in tessera's JWKS (cached, refetched on an unknown
kid), the algorithm is the one the key names (EdDSA), and `exp`, `nbf`, `iss` and `aud` are
checked. Prints the claims, or the reason the token was refused (exit 1).
"""
import json
import sys

import jwt

ISSUER = "tessera"
AUDIENCE = "subtotal"


def verify(jwks_url: str, token: str) -> dict:
    jwks = jwt.PyJWKClient(jwks_url, cache_jwk_set=True, lifespan=300)
    key = jwks.get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key,
        algorithms=[key.algorithm_name],
        issuer=ISSUER,
        audience=AUDIENCE,
        options={"require": ["exp", "nbf", "iat", "iss", "aud", "sub", "jti"]},
    )


if __name__ == "__main__":
    try:
        print(json.dumps(verify(sys.argv[1], sys.argv[2])))
    except jwt.PyJWTError as e:
        print(f"token refused: {e}", file=sys.stderr)
        sys.exit(1)
