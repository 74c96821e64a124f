/** The node's authenticator, as the config asks: local tokens, plus an external identity provider when JWKS_URL is set. */
import type { Config } from '../config.js';
import type { Store } from '../store/store.js';
import { AccountAuthenticator } from './account-authenticator.js';
import type { Authenticator } from './authenticator.js';
import { JwksAuthenticator } from './jwks-authenticator.js';
import { JwtAuthenticator } from './jwt-authenticator.js';
import type { SigningKey } from './signing-key.js';

export function createAuthenticator(config: Config, store: Store, key: SigningKey): Authenticator {
  const local = new JwtAuthenticator({ key, issuer: config.tokenIssuer, audience: config.tokenAudience });
  const external = config.jwksUrl
    ? new JwksAuthenticator({
        jwksUrl: config.jwksUrl,
        issuer: config.tokenIssuer,
        audience: config.tokenAudience,
        roleClaim: config.tokenRoleClaim,
      })
    : undefined;
  return new AccountAuthenticator({ db: store.kysely, local, localKid: key.kid, ...(external && { external }) });
}
