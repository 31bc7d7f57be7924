/** The public shape of a user: what `users show --json` prints and the API will return. */
import type { Db, UserRow } from '../storage/schema.js';
import { getUserMeta, listContactLinks, listUserTags } from './user.repository.js';

export interface UserView {
  id: number;
  login: string;
  email: string;
  role: string;
  firstName: string;
  lastName: string;
  displayName: string;
  passwordGenerated: boolean;
  createdAt: string;
  updatedAt: string;
  tags: Array<{ connection: string; id: string; label: string }>;
  meta: Record<string, string>;
  contacts: Array<{ connection: string; contactId: string; linkedAt: string }>;
}

export async function describeUser(db: Db, user: UserRow): Promise<UserView> {
  const [tags, meta, links] = await Promise.all([
    listUserTags(db, user.id),
    getUserMeta(db, user.id),
    listContactLinks(db, user.id),
  ]);
  return {
    id: user.id,
    login: user.login,
    email: user.email,
    role: user.role,
    firstName: user.first_name,
    lastName: user.last_name,
    displayName: user.display_name,
    passwordGenerated: user.password_generated === 1,
    createdAt: user.created_at,
    updatedAt: user.updated_at,
    tags: tags.map((tag) => ({ connection: tag.connectionId, id: tag.id, label: tag.label })),
    meta,
    contacts: links.map((link) => ({
      connection: link.connection_id,
      contactId: link.contact_id,
      linkedAt: link.created_at,
    })),
  };
}
