// openid-client (v6, an OpenID-certified relying party) against Gatehouse on loopback. One
// scenario per run, named by the first argument; the Rust test (tests/it/openid_client.rs) is the
// person at the browser and answers this script's questions. See peer.mjs for the protocol.
//
//   code-flow           discovery, dynamic registration, code + PKCE + nonce, the ID token
//                       checked against the JWKS, userinfo, refresh twice, the first refresh
//                       token refused afterwards
//   device              the device authorization grant (user code entered on /link), userinfo,
//                       revocation of the access token, then its refresh token refused
//   element-web-legacy  matrix-js-sdk <= v41: openid + unstable scopes + nonce, response_mode=query
//   element-web         matrix-js-sdk v42: stable scopes, response_mode=fragment, no openid
//   client-credentials  the client_credentials grant for each static client in the input
import { ask, check, input, load, scenario } from './peer.mjs';

const client = await load('openid-client');
const { issuer } = input();
const insecure = { execute: [client.allowInsecureRequests] };
/** A native app with a loopback redirect (RFC 8252 §7.3), as Element X registers. */
const NATIVE_RP = {
  application_type: 'native',
  redirect_uris: ['http://127.0.0.1/callback'],
  client_name: 'openid-client RP',
  client_uri: 'https://rp.example/',
};

/** Register a public client the way a Matrix client does, and check the discovery it did. */
async function register(step, metadata) {
  const config = await step('discovery and dynamic registration', () =>
    client.dynamicClientRegistration(
      new URL(issuer),
      {
        token_endpoint_auth_method: 'none',
        response_types: ['code'],
        grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
        ...metadata,
      },
      client.None(),
      insecure,
    ),
  );
  const server = config.serverMetadata();
  check(server.issuer === issuer, `discovered issuer ${server.issuer}, expected ${issuer}`);
  // The ID token's signature is checked against the JWKS, not taken on trust from TLS.
  client.enableNonRepudiationChecks(config);
  return config;
}

function deviceScope(stable) {
  const id = `OIDC${Math.random().toString(36).slice(2, 12).toUpperCase()}`;
  return stable ? `urn:matrix:client:device:${id}` : `urn:matrix:org.matrix.msc2967.client:device:${id}`;
}

/** Send the person to the authorization URL; the answer is the URL the browser was sent back to. */
async function authorize(step, config, parameters) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: config.clientMetadata().redirect_uris[0],
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...parameters,
  });
  const back = new URL(await step('authorization', () => ask('authorize', { url: url.href })));
  if (parameters.response_mode === 'fragment') {
    // What a browser app does with a fragment response: read it in the page.
    check(back.search === '', `a fragment response carries nothing in the query: ${back.href}`);
    check(back.hash.includes('code='), `the fragment carries the code: ${back.href}`);
    back.search = back.hash.slice(1);
    back.hash = '';
  } else {
    check(back.searchParams.has('code'), `the query carries the code: ${back.href}`);
  }
  check(back.searchParams.get('iss') === issuer, `RFC 9207 iss on the response: ${back.href}`);
  return { back, verifier, state };
}

/** An OpenID Connect sign-in: a nonce sent, the ID token validated, its nonce checked. */
async function openIdSignIn(step, config, parameters) {
  const nonce = client.randomNonce();
  const { back, verifier, state } = await authorize(step, config, { ...parameters, nonce });
  const tokens = await step('code exchange and ID token validation', () =>
    client.authorizationCodeGrant(config, back, {
      pkceCodeVerifier: verifier,
      expectedNonce: nonce,
      expectedState: state,
      idTokenExpected: true,
    }),
  );
  const claims = tokens.claims();
  check(claims.nonce === nonce, 'the ID token carries the nonce');
  // enableNonRepudiationChecks made openid-client fetch the JWKS and verify the signature.
  check(client.getJwksCache(config)?.jwks?.keys?.length > 0, 'the ID token was checked against the JWKS');
  return { tokens, claims };
}

/** Expect `promise` to fail with the OAuth error `code`; answers that error. */
async function refused(promise, code) {
  try {
    await promise;
  } catch (error) {
    check(error.error === code, `expected ${code}, got ${error.error ?? error.code}: ${error.message}`);
    return { error: error.error, status: error.status };
  }
  throw new Error(`expected ${code}, but the request succeeded`);
}

/** Expect userinfo to refuse `accessToken` with 401. */
async function userinfoRefused(config, accessToken) {
  try {
    await client.fetchUserInfo(config, accessToken, client.skipSubjectCheck);
  } catch (error) {
    check(error.status === 401, `userinfo refused with ${error.status} (${error.code}): ${error.message}`);
    return error.status;
  }
  throw new Error('userinfo answered for an ended session');
}

const scenarios = {
  async 'code-flow'(step) {
    const config = await register(step, NATIVE_RP);
    const scope = `openid urn:matrix:client:api:* ${deviceScope(true)}`;
    const { tokens, claims } = await openIdSignIn(step, config, { scope });
    check(typeof claims.auth_time === 'number', 'the ID token carries auth_time');
    check(tokens.scope.split(' ').sort().join(' ') === scope.split(' ').sort().join(' '), `granted scope ${tokens.scope}`);
    const userinfo = await step('userinfo', () => client.fetchUserInfo(config, tokens.access_token, claims.sub));

    const first = await step('refresh', () => client.refreshTokenGrant(config, tokens.refresh_token));
    check(first.refresh_token && first.refresh_token !== tokens.refresh_token, 'refresh rotates the refresh token');
    await step('userinfo with the refreshed token', () => client.fetchUserInfo(config, first.access_token, claims.sub));
    const second = await step('refresh again', () => client.refreshTokenGrant(config, first.refresh_token));
    // Its successor has been used: the first refresh token is spent for good (RFC 9700 §4.14.2).
    const replay = await step('the first refresh token again', () =>
      refused(client.refreshTokenGrant(config, tokens.refresh_token), 'invalid_grant'),
    );
    return {
      client_id: config.clientMetadata().client_id,
      sub: claims.sub,
      claims,
      userinfo,
      access_tokens: [tokens.access_token, first.access_token, second.access_token],
      replay,
    };
  },

  async device(step) {
    const config = await register(step, NATIVE_RP);
    const scope = `openid urn:matrix:client:api:* ${deviceScope(true)}`;
    const authorization = await step('device authorization', () =>
      client.initiateDeviceAuthorization(config, { scope }),
    );
    await step('user code entry', () =>
      ask('device', {
        user_code: authorization.user_code,
        verification_uri: authorization.verification_uri,
        verification_uri_complete: authorization.verification_uri_complete,
      }),
    );
    const tokens = await step('device code polling', () => client.pollDeviceAuthorizationGrant(config, authorization));
    const claims = tokens.claims();
    check(claims?.sub, 'the device grant with openid gives an ID token');
    const userinfo = await step('userinfo', () => client.fetchUserInfo(config, tokens.access_token, claims.sub));
    await step('revocation', () =>
      client.tokenRevocation(config, tokens.access_token, { token_type_hint: 'access_token' }),
    );
    const userinfoAfter = await step('userinfo after revocation', () => userinfoRefused(config, tokens.access_token));
    // Revoking the access token ends its session, refresh token included (MSC4254).
    const refresh = await step('refresh after revocation', () =>
      refused(client.refreshTokenGrant(config, tokens.refresh_token), 'invalid_grant'),
    );
    return {
      user_code: authorization.user_code,
      sub: claims.sub,
      userinfo,
      access_token: tokens.access_token,
      refresh_token: tokens.refresh_token,
      userinfo_after: userinfoAfter,
      refresh,
    };
  },

  async 'element-web-legacy'(step) {
    // Element Web on oidc-client-ts: a web client on its own https origin.
    const config = await register(step, {
      application_type: 'web',
      // The app's own address. (openid-client sends the redirect URI without its query at
      // the token endpoint, so it cannot use one that has a query.)
      redirect_uris: ['https://element-web.example/'],
      client_name: 'Element (legacy shape)',
      client_uri: 'https://element-web.example/',
      contacts: ['admin@element-web.example'],
    });
    const scope = `openid urn:matrix:org.matrix.msc2967.client:api:* ${deviceScope(false)}`;
    const { tokens, claims } = await openIdSignIn(step, config, { scope, response_mode: 'query' });
    const refreshed = await step('refresh', () => client.refreshTokenGrant(config, tokens.refresh_token));
    return { sub: claims.sub, access_token: refreshed.access_token, scope: tokens.scope };
  },

  async 'element-web'(step) {
    // matrix-js-sdk v42's own OAuth code: no OpenID Connect at all.
    const config = await register(step, {
      application_type: 'web',
      redirect_uris: ['https://element-web.example/'],
      client_name: 'Element',
      client_uri: 'https://element-web.example/',
      contacts: ['admin@element-web.example'],
    });
    const scope = `urn:matrix:client:api:* ${deviceScope(true)}`;
    const { back, verifier, state } = await authorize(step, config, { scope, response_mode: 'fragment' });
    const tokens = await step('code exchange', () =>
      client.authorizationCodeGrant(config, back, { pkceCodeVerifier: verifier, expectedState: state }),
    );
    check(tokens.id_token === undefined, 'no ID token without openid');
    const refreshed = await step('refresh', () => client.refreshTokenGrant(config, tokens.refresh_token));
    await step('logout', () =>
      client.tokenRevocation(config, refreshed.access_token, { token_type_hint: 'access_token' }),
    );
    return { access_token: tokens.access_token, refreshed_access_token: refreshed.access_token, scope: tokens.scope };
  },

  async 'client-credentials'(step) {
    const results = [];
    for (const static_client of input().clients) {
      const { method, client_id: id } = static_client;
      const auth = await clientAuthentication(static_client);
      const config = await step(`discovery as ${method}`, () => client.discovery(new URL(issuer), id, undefined, auth, insecure));
      const grant = client.clientCredentialsGrant(config, { scope: static_client.scope });
      if (static_client.refused) {
        results.push({ method, ...(await step(`client_credentials as ${method}`, () => refused(grant, static_client.refused))) });
      } else {
        const tokens = await step(`client_credentials as ${method}`, () => grant);
        check(tokens.refresh_token === undefined, `no refresh token for ${method}`);
        results.push({ method, access_token: tokens.access_token, scope: tokens.scope });
      }
    }
    return { results };
  },
};

/** openid-client's ClientAuth for one static client of the input. */
async function clientAuthentication({ method, secret, private_jwk: jwk }) {
  switch (method) {
    case 'none':
      return client.None();
    case 'client_secret_basic':
      return client.ClientSecretBasic(secret);
    case 'client_secret_post':
      return client.ClientSecretPost(secret);
    case 'client_secret_jwt':
      return client.ClientSecretJwt(secret);
    case 'private_key_jwt': {
      const key = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
      return client.PrivateKeyJwt({ key, kid: jwk.kid });
    }
    default:
      throw new Error(`unknown client authentication method ${method}`);
  }
}

const name = process.argv[2];
const run = scenarios[name];
if (!run) {
  throw new Error(`unknown scenario ${name}; one of ${Object.keys(scenarios).join(', ')}`);
}
await scenario(run);
