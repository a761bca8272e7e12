// Verify a tessera connection token in Node, as a resource server would (jose).
//
//   npm install jose
//   node verify.mjs https://tessera.example.com/.well-known/jwks.json "$TOKEN"
//
// The key is looked up by the token's `kid` in tessera's JWKS (cached, refetched on an
// unknown kid), the algorithm must be the one the key names (EdDSA), and `exp`, `nbf`, `iss`
// and `aud` are checked. Prints the claims, or the reason the token was refused (exit 1).
import { createRemoteJWKSet, jwtVerify } from "jose";

const ISSUER = "tessera";
const AUDIENCE = "subtotal";

export async function verify(jwksUrl, token) {
  const jwks = createRemoteJWKSet(new URL(jwksUrl));
  const { payload } = await jwtVerify(token, jwks, {
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: ["EdDSA"],
    requiredClaims: ["exp", "nbf", "iat", "sub", "jti"],
  });
  return payload;
}

try {
  console.log(JSON.stringify(await verify(process.argv[2], process.argv[3])));
} catch (e) {
  console.error(`token refused: ${e.code ?? e.name}: ${e.message}`);
  process.exit(1);
}
