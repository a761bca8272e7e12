// A real OAuth 2.0 authorization server (node oidc-provider, unmodified) for the partner
// end-to-end check: client credentials, RS256 JWT access tokens (RFC 9068) for tessera's
// audience carrying the subtotal_client_id claim, and discovery and a JWKS at the usual URLs.
//
// usage: node authorization_server.mjs PORT AUDIENCE TESSERA_CLIENT_ID
// Prints "ready" once listening. Clients: acme-partner / acme-secret (every scope), and
// tessera / tessera-secret, tessera's own client for the introspection endpoint. A token
// requested with resource=urn:tessera:opaque is opaque (checked through introspection).
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const [port, audience, tesseraClient] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const SCOPES = 'connections:read connections:write purchases:brand_products webhooks:read webhooks:write';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'rsa-1', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'acme-partner',
    client_secret: 'acme-secret',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    scope: SCOPES,
  }, {
    client_id: 'tessera',
    client_secret: 'tessera-secret',
    grant_types: [],
    redirect_uris: [],
    response_types: [],
  }],
  jwks: { keys: [jwk] },
  scopes: SCOPES.split(' '),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => (resource === 'urn:tessera:opaque'
        ? { scope: SCOPES, audience, accessTokenTTL: 300, accessTokenFormat: 'opaque' }
        : { scope: SCOPES, audience, accessTokenTTL: 300, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }),
    },
  },
  extraTokenClaims: async () => ({ subtotal_client_id: tesseraClient }),
});
provider.proxy = false;
provider.listen(Number(port), '127.0.0.1', () => console.log('ready'));
