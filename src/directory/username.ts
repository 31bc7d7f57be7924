/**
 * Usernames of new users, as WP Fusion makes them: the formats under its names
 * (`email`, `flname`, `fnamenum`; our earlier `first_last` and `first_number`
 * are the same formats), and its clash handling (random digits appended until
 * the name is free). Pure.
 */
import type { UsernameFormatName } from '../settings/settings.js';

type UsernameFormat = 'email' | 'flname' | 'fnamenum';

/** Names this service used before it took WP Fusion's; kept so existing settings keep working. */
const FORMAT_ALIASES = { first_last: 'flname', first_number: 'fnamenum' } as const;

function usernameFormatOf(name: UsernameFormatName): UsernameFormat {
  return Object.hasOwn(FORMAT_ALIASES, name)
    ? FORMAT_ALIASES[name as keyof typeof FORMAT_ALIASES]
    : (name as UsernameFormat);
}

/** Keeps what a login may hold: letters, digits, space and `_ . - @`. */
export function sanitizeLogin(login: string): string {
  return login
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9 _.\-@]/g, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 60);
}

/** A whole number from `min` to `max`, both included. */
function randomInt(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/**
 * The username a new user gets before it is made unique: the e-mail address
 * (`email`), first and last name run together (`flname`: JaneDoe), or the first
 * name and a number from 1 to 99999 (`fnamenum`: Jane4711). '' when the names
 * it needs are missing (the caller falls back to the e-mail address).
 */
export function usernameBase(
  format: UsernameFormatName,
  person: { email: string; first_name?: string | undefined; last_name?: string | undefined },
  random: () => number,
): string {
  const first = sanitizeLogin(person.first_name ?? '');
  const last = sanitizeLogin(person.last_name ?? '');
  switch (usernameFormatOf(format)) {
    case 'flname':
      return sanitizeLogin(`${first}${last}`);
    case 'fnamenum':
      return first ? sanitizeLogin(`${first}${randomInt(random, 1, 99_999)}`) : '';
    case 'email':
      return sanitizeLogin(person.email.toLowerCase());
  }
}

/** The next name to try when `taken` is in use: WP Fusion appends a number from 1 to 999. */
export function nextUsernameCandidate(taken: string, random: () => number): string {
  return `${taken}${randomInt(random, 1, 999)}`;
}
