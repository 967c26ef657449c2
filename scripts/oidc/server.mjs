// The test stack's OAuth2 authorization server: npm's oidc-provider (a
// certified OpenID Connect implementation) on loopback, started by
// scripts/stack. What the tests need of a Microsoft Entra or Google:
// client credentials, refresh tokens (rotated at each use), the device
// authorization grant with its approval pages (devInteractions: any login
// is accepted, the login becomes the account), introspection for Dovecot's
// oauth2 passdb, revocation. Tests register their own clients (dynamic
// registration) with two properties of ours:
//   mail_user  the mailbox a client-credentials token opens (Dovecot's
//              username attribute; a person's token carries the login)
//   token_ttl  seconds an access token of that client lives (default 3600)
//
//   OIDC_PORT             port on 127.0.0.1
//   OIDC_DOVECOT_SECRET   secret of the client `dovecot` that introspects
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const accessTtl = (ctx, token, client) => client?.token_ttl ?? 3600;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'dovecot',
      client_secret: process.env.OIDC_DOVECOT_SECRET,
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ],
  features: {
    clientCredentials: { enabled: true },
    deviceFlow: { enabled: true },
    devInteractions: { enabled: true },
    introspection: { enabled: true },
    registration: { enabled: true },
    revocation: { enabled: true },
  },
  extraClientMetadata: {
    properties: ['mail_user', 'token_ttl'],
    validator(ctx, key, value) {
      if (key === 'token_ttl' && value !== undefined && !Number.isInteger(value)) {
        throw new Error('token_ttl must be an integer');
      }
    },
  },
  scopes: ['openid', 'offline_access', 'mail'],
  // Every token names the mailbox it opens, whichever grant made it.
  extraTokenClaims: (ctx, token) => ({
    mail_user: token.accountId ?? ctx.oidc.client?.mail_user ?? token.clientId,
  }),
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  ttl: {
    AccessToken: accessTtl,
    ClientCredentials: accessTtl,
    DeviceCode: 600,
    Grant: 14 * 24 * 3600,
    Interaction: 3600,
    RefreshToken: 14 * 24 * 3600,
    Session: 14 * 24 * 3600,
  },
  // Plain HTTP on loopback: cookies without the Secure flag.
  cookies: { keys: ['guichet-test-stack'], long: { secure: false }, short: { secure: false } },
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
