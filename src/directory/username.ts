/** Usernames of new users: the candidates tried, in each format, until one is free. Pure. */
import type { UsernameFormat } from '../settings/settings.js';

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

/** The username a new user would get before making it unique. */
export function usernameBase(
  format: UsernameFormat,
  person: { email: string; first_name?: string; last_name?: string },
): string {
  const first = sanitizeLogin(person.first_name ?? '')
    .toLowerCase()
    .replace(/ /g, '');
  const last = sanitizeLogin(person.last_name ?? '')
    .toLowerCase()
    .replace(/ /g, '');
  if (format === 'first_last' && (first || last)) return [first, last].filter(Boolean).join('.');
  if (format === 'first_number' && first) return first;
  return sanitizeLogin(person.email.toLowerCase());
}

/** A candidate for the `attempt`-th try: the base itself first, then with a random suffix. */
export function usernameCandidate(
  base: string,
  attempt: number,
  random: () => number,
  format: UsernameFormat,
): string {
  if (attempt === 0 && format !== 'first_number') return base;
  const digits = attempt < 3 ? 4 : 6;
  const suffix = Math.floor(random() * 10 ** digits)
    .toString()
    .padStart(digits, '0');
  return `${base}${format === 'first_number' ? '' : '-'}${suffix}`;
}
