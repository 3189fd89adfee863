// A real OAuth 2.1 / OpenID authorization server for the sign-in browser test: oidc-provider
// (OpenID-certified, maintained; installed by scripts/services/oidc.sh), configured the way a
// voicebin deployment's issuer would be:
//   - one public client (no secret; PKCE S256 required) whose redirect URI is voicebin's /signin;
//   - resource indicators (RFC 8707): a request for voicebin's URL gets a JWT access token
//     (RFC 9068, `at+jwt`) with `aud` = that URL and the voice:* scopes it was granted;
//   - DPoP (RFC 9449), always on in oidc-provider 9, so the token is bound to the browser's key when it sends a proof;
//   - oidc-provider's own development login and consent pages (any login, any password), which
//     the browser test fills in.
//
//   node tests/oidc/server.mjs --port 0 --resource http://127.0.0.1:8080 --client voicebin-web
//
// Prints one line of JSON on stdout when listening: { issuer, jwks_uri, metadata }.

import { generateKeyPairSync } from "node:crypto";
import path from "node:path";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";

const { values: args } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    resource: { type: "string" },
    client: { type: "string", default: "voicebin-web" },
    scopes: { type: "string", default: "voice:read voice:create voice:delete" },
  },
});
if (!args.resource) throw new Error("--resource <voicebin's public URL> is required");

const dir = process.env.VOICEBIN_OIDC_DIR;
if (!dir) throw new Error("VOICEBIN_OIDC_DIR is not set: source scripts/services/oidc.sh and run ensure_oidc");
const { default: Provider } = await import(
  pathToFileURL(path.join(dir, "node_modules/oidc-provider/lib/index.js")).href
);

// Fresh signing keys per run: ES256 for access tokens, RS256 for ID tokens (OpenID's default).
const jwk = (type, options, alg, kid) => ({
  ...generateKeyPairSync(type, options).privateKey.export({ format: "jwk" }),
  alg,
  kid,
  use: "sig",
});
const keys = [
  jwk("ec", { namedCurve: "P-256" }, "ES256", "es256-test"),
  jwk("rsa", { modulusLength: 2048 }, "RS256", "rs256-test"),
];

const resourceScopes = args.scopes;
const redirectUri = `${args.resource}/signin`;

async function start() {
  // Listen first so the issuer URL can name the real port.
  const { createServer } = await import("node:http");
  const server = createServer();
  await new Promise((resolve) => server.listen(Number(args.port), "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${server.address().port}`;

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: args.client,
        token_endpoint_auth_method: "none",
        redirect_uris: [redirectUri],
        grant_types: ["authorization_code"],
        response_types: ["code"],
        application_type: "web",
      },
    ],
    jwks: { keys },
    scopes: ["openid", ...resourceScopes.split(" ")],
    pkce: { required: () => true },
    clientBasedCORS: (_ctx, origin, client) =>
      client.redirectUris.some((uri) => new URL(uri).origin === origin),
    cookies: { keys: ["voicebin-oidc-test-cookie-key"] },
    features: {
      devInteractions: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => args.resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          if (indicator !== args.resource) throw new Provider.errors.InvalidTarget();
          return {
            scope: resourceScopes,
            audience: args.resource,
            accessTokenTTL: 3600,
            accessTokenFormat: "jwt",
            jwt: { sign: { alg: "ES256" } },
          };
        },
      },
    },
    // The account is whatever login was typed on the development login page.
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  });
  provider.on("server_error", (_ctx, err) => console.error("oidc server_error", err));
  server.on("request", provider.callback());
  const metadata = `${issuer}/.well-known/openid-configuration`;
  console.log(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks`, metadata }));
  // Everything else oidc-provider says goes to stderr: the reader of the ready line may stop
  // reading stdout.
  console.log = console.info = console.error;
}

await start();
