// A real OAuth 2.0 authorization server (node oidc-provider, unmodified) for the partner
// end-to-end check: RS256 JWT access tokens (RFC 9068) for tessera's audience carrying the
// subtotal_client_id claim, by client credentials and by authorization code with PKCE (S256,
// required), and discovery and a JWKS at the usual URLs.
//
// usage: node authorization_server.mjs PORT AUDIENCE TESSERA_CLIENT_ID [KID]
// (KID, default rsa-1: the signing key's id; each start makes a new key, so a restart with
// another KID is a key rotation.)
// Prints "ready" once listening. Clients: acme-partner / acme-secret (client credentials,
// every scope); acme-partner-app / acme-app-secret (authorization code, redirect URI
// http://127.0.0.1:9/callback, which nothing serves: the caller reads the code from the
// redirect); tessera / tessera-secret, tessera's own client for the introspection endpoint.
// A token requested with resource=urn:tessera:opaque is opaque (checked through
// introspection), with urn:tessera:brief a JWT for tessera that expires after 1 s, and with
// urn:other:api a JWT for another audience. The brand's sign-in and consent are one form at /interaction/{uid}: a
// brand user's name and "Allow"; the grant is what the request asked for.
//
// With REQUEST_LOG=FILE in the environment, every request's method and path is appended to
// FILE, one a line: what tessera asked this server.
import { appendFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const [port, audience, tesseraClient, kid = 'rsa-1'] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const SCOPES = 'connections:read connections:write purchases:brand_products webhooks:read webhooks:write';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'acme-partner',
    client_secret: 'acme-secret',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    scope: SCOPES,
  }, {
    client_id: 'acme-partner-app',
    client_secret: 'acme-app-secret',
    grant_types: ['authorization_code'],
    redirect_uris: ['http://127.0.0.1:9/callback'],
    response_types: ['code'],
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
  pkce: { required: () => true },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        const jwt = { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
        switch (resource) {
          case 'urn:tessera:opaque': return { scope: SCOPES, audience, accessTokenTTL: 300, accessTokenFormat: 'opaque' };
          case 'urn:tessera:brief': return { scope: SCOPES, audience, accessTokenTTL: 1, ...jwt };
          case 'urn:other:api': return { scope: SCOPES, audience: 'https://other.example', accessTokenTTL: 300, ...jwt };
          default: return { scope: SCOPES, audience, accessTokenTTL: 300, ...jwt };
        }
      },
    },
  },
  extraTokenClaims: async () => ({ subtotal_client_id: tesseraClient }),
});
if (process.env.REQUEST_LOG) {
  provider.use(async (ctx, next) => {
    appendFileSync(process.env.REQUEST_LOG, `${ctx.method} ${ctx.path}\n`);
    return next();
  });
}
// The brand's side of the authorization code grant: a sign-in and consent form, and what it
// posts, finishing the interaction with a grant of the requested scopes for the resource.
const escape = (v) => String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
async function formBody(req) {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  return new URLSearchParams(raw);
}
provider.use(async (ctx, next) => {
  const m = ctx.path.match(/^\/interaction\/([\w-]+)$/);
  if (!m) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { params } = details;
  if (ctx.method === 'GET') {
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>Allow ${escape(params.client_id)}</title>
<form method="post" action="/interaction/${escape(details.uid)}">
<p>${escape(params.client_id)} asks for: ${escape(params.scope)}</p>
<label>Brand user <input name="account" required></label>
<button name="decision" value="allow">Allow</button> <button name="decision" value="deny">Deny</button>
</form>`;
    return undefined;
  }
  const form = await formBody(ctx.req);
  ctx.respond = false; // interactionFinished answers on the raw response
  if (form.get('decision') !== 'allow') {
    return provider.interactionFinished(ctx.req, ctx.res, { error: 'access_denied' }, { mergeWithLastSubmission: false });
  }
  const accountId = form.get('account');
  const grant = new provider.Grant({ accountId, clientId: params.client_id });
  // The scopes are both the provider's own (its `scopes`) and the resource's: granted as both.
  grant.addOIDCScope(params.scope);
  grant.addResourceScope(params.resource || audience, params.scope);
  const grantId = await grant.save();
  return provider.interactionFinished(ctx.req, ctx.res, { login: { accountId }, consent: { grantId } },
    { mergeWithLastSubmission: false });
});
provider.proxy = false;
provider.listen(Number(port), '127.0.0.1', () => console.log('ready'));
