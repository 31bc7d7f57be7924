/** Checking a user's login and password for the site, with the login page's rate limits. */
import type { Kysely } from 'kysely';
import { authenticate } from '../accounts/authenticate.js';
import type { PasswordKeyring } from '../directory/passwords.js';
import { writeActivity } from '../activity/activity.repository.js';
import { isoNow, type Clock } from '../clock.js';
import { AppError } from '../errors.js';
import { loadSettings } from '../settings/settings.js';
import type { DB } from '../storage/schema.js';
import { loadApiUser } from './api-user.js';
import { defineRoute, type ApiRoute } from './route.js';
import { UserResponseSchema, VerifyRequestSchema } from './schemas.js';

export interface AuthRouteDeps {
  db: Kysely<DB>;
  clock: Clock;
  settingOverrides: Readonly<Record<string, string>>;
  keyring: PasswordKeyring;
}

export function authRoutes(deps: AuthRouteDeps): ApiRoute[] {
  const { db } = deps;
  return [
    defineRoute({
      method: 'POST',
      path: '/auth/verify',
      operationId: 'verifyLogin',
      summary: "Check a user's login and password",
      description:
        'For a site that logs its users in with their crm-bridge password. The same limits as the login page apply: ' +
        'per client address (login_limit_per_ip) and per account (login_limit_per_account failures), in 15-minute windows. ' +
        'An unknown login and a wrong password get the same answer.',
      body: VerifyRequestSchema,
      response: {
        description: 'The login and password match; the user.',
        schema: UserResponseSchema,
      },
      errors: ['INVALID_CREDENTIALS', 'TOO_MANY_ATTEMPTS'],
      async handle({ body, request }) {
        const identifier = body.login ?? body.username ?? body.email ?? '';
        const ip = body.client_ip ?? request.ip;
        const settings = await loadSettings(db, deps.settingOverrides);
        const outcome = await authenticate(
          { db, clock: deps.clock, settings, keyring: deps.keyring },
          { identifier, password: body.password, ip, channel: 'api' },
        );
        if (outcome.ok) return { user: await loadApiUser(db, outcome.user) };

        const { user } = outcome;
        const limited = outcome.reason === 'rate_limited';
        await writeActivity(
          db,
          [
            {
              level: limited ? 'warning' : 'notice',
              action: 'api',
              userId: user?.id ?? null,
              // A name nobody has is not written down: people type passwords into login fields.
              message: `API login check ${limited ? 'refused (too many attempts)' : 'failed'} for ${user ? `user #${user.id} (${user.login})` : 'an unknown login'}`,
              data: { ip, apiToken: request.apiToken?.name ?? null },
            },
          ],
          isoNow(deps.clock),
        );
        if (outcome.reason === 'rate_limited') {
          throw new AppError('TOO_MANY_ATTEMPTS', undefined, {
            retryAfterMs: outcome.retryAfterSeconds * 1000,
          });
        }
        throw new AppError('INVALID_CREDENTIALS');
      },
    }),
  ];
}
