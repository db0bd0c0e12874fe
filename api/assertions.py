"""private_key_jwt client authentication (RFC 7523 §2.2, OpenID Connect Core §9).

The client signs a short-lived JWT with a private key whose public part it registered (several per
client, for rotation, as Scalepoint does): `iss` = `sub` = client id, `aud` = the token endpoint,
`iat`, `exp` at most MAX_LIFETIME_S after it, and a `jti` that is refused when seen again. The
bounded lifetime is what makes the replay check work: an assertion of any lifetime, once seen in a
log, would otherwise be good for years to whoever has it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import jwt

from store.clients import KeyStore

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256"]
MAX_LIFETIME_S = 300
"""`exp` − `iat` of an assertion (a client makes a new one per token request)."""
LEEWAY_S = 30
"""Clock skew allowed between the client and us, for `iat` in the future and for `exp`."""


class AssertionRefused(Exception):
    """The assertion does not authenticate the client; the message says why."""


async def verify_assertion(
    assertion: str, client_id: str | None, keys: KeyStore, audiences: list[str]
) -> str:
    try:
        header = jwt.get_unverified_header(assertion)
        claimed = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as err:
        raise AssertionRefused(f"the client assertion is not a JWT: {err}") from err
    issuer = claimed.get("iss")
    if not isinstance(issuer, str) or claimed.get("sub") != issuer or (client_id and client_id != issuer):
        raise AssertionRefused("the assertion's iss and sub must both be the client id")
    candidates = [k for k in await keys.keys(issuer) if header.get("kid") in (None, k.kid)]
    if not candidates:
        raise AssertionRefused("the assertion is signed by a key this client has not registered")
    claims = None
    for key in candidates:
        try:
            claims = jwt.decode(
                assertion,
                key.public_pem,
                algorithms=ALGORITHMS,
                audience=audiences,
                leeway=LEEWAY_S,
                options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
            )
            break
        except jwt.ExpiredSignatureError as err:
            raise AssertionRefused("the client assertion has expired") from err
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as err:
            raise AssertionRefused(f"the client assertion is not valid: {err}") from err
    if claims is None:
        raise AssertionRefused("the assertion is signed by a key this client has not registered")
    if claims["exp"] - claims["iat"] > MAX_LIFETIME_S:
        raise AssertionRefused(f"the client assertion must expire within {MAX_LIFETIME_S} s of its iat")
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    if not await keys.use_assertion(str(claims["jti"]), issuer, expires):
        raise AssertionRefused("this client assertion was used before (replay)")
    return issuer
