/** An existing user's password set from the contact's mapped one, outside the user transaction. */
import type { Kysely } from 'kysely';
import { storeNewPassword } from '../accounts/password-change.js';
import type { Clock } from '../clock.js';
import { hashPassword, verifyPassword } from '../directory/passwords.js';
import type { Role } from '../directory/role.repository.js';
import { isAdminRole } from '../directory/roles.js';
import { isGivenPassword, type MappedContact } from '../directory/user-upsert.js';
import type { DB, UserRow } from '../storage/schema.js';

/** Sets the contact's mapped password when it differs; admins keep theirs. */
export async function updatePassword(
  deps: { readonly db: Kysely<DB>; readonly clock: Clock },
  user: UserRow,
  mapped: MappedContact,
  roles: readonly Role[],
): Promise<{ changed: boolean; notices: string[] }> {
  if (isAdminRole(user.role, roles)) {
    return {
      changed: false,
      notices: [
        `User #${user.id} holds the admin role "${user.role}", whose password webhooks never change; kept it`,
      ],
    };
  }
  if (!isGivenPassword(mapped.user_pass)) return { changed: false, notices: [] };
  if (await verifyPassword(mapped.user_pass, user.password_hash))
    return { changed: false, notices: [] };
  const hash = await hashPassword(mapped.user_pass);
  // The old password no longer opens anything: logins made with it end, open links are spent.
  await deps.db
    .transaction()
    .execute((trx) =>
      storeNewPassword(
        trx,
        { userId: user.id, passwordHash: hash },
        deps.clock.now().toISOString(),
      ),
    );
  return { changed: true, notices: [] };
}
