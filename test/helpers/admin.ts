/**
 * Signing in to the admin area over plain HTTP: users with a known password,
 * a cookie jar, and forms posted with the CSRF token the page gave them.
 */
import type { Kysely } from 'kysely';
import { hashPassword } from '../../src/directory/passwords.js';
import { insertUser } from '../../src/directory/user.repository.js';
import type { DB, UserRow } from '../../src/storage/schema.js';

export async function createUserWithPassword(
  db: Kysely<DB>,
  user: { login: string; email: string; role: string; password: string },
): Promise<UserRow> {
  const at = new Date().toISOString();
  return insertUser(db, {
    login: user.login,
    email: user.email,
    email_lower: user.email.toLowerCase(),
    password_hash: await hashPassword(user.password),
    password_generated: 0,
    role: user.role,
    first_name: '',
    last_name: '',
    display_name: user.login,
    created_at: at,
    updated_at: at,
  });
}

export interface Answer {
  status: number;
  body: string;
  location: string | null;
}

/** The value of the first hidden `_csrf` input of a page. */
export function csrfTokenOf(html: string): string {
  const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
  if (!token) throw new Error('no CSRF token on the page');
  return token;
}

/** A browser without JavaScript: cookies kept, redirects not followed. */
export class PageClient {
  private readonly jar = new Map<string, string>();

  constructor(private readonly baseUrl: string) {}

  async request(
    method: 'GET' | 'POST',
    path: string,
    fields?: Record<string, string>,
  ): Promise<Answer> {
    const cookie = [...this.jar].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await fetch(this.baseUrl + path, {
      method,
      redirect: 'manual',
      headers: {
        accept: 'text/html',
        ...(cookie ? { cookie } : {}),
        ...(fields ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      body: fields ? new URLSearchParams(fields).toString() : null,
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const name = pair.slice(0, pair.indexOf('='));
      const value = pair.slice(pair.indexOf('=') + 1);
      if (value === '' || /max-age=0/i.test(line)) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return {
      status: response.status,
      body: await response.text(),
      location: response.headers.get('location'),
    };
  }

  get(path: string): Promise<Answer> {
    return this.request('GET', path);
  }

  post(path: string, fields: Record<string, string>): Promise<Answer> {
    return this.request('POST', path, fields);
  }

  async logIn(login: string, password: string): Promise<void> {
    const form = await this.get('/login');
    const answer = await this.post('/login', {
      _csrf: csrfTokenOf(form.body),
      identifier: login,
      password,
    });
    if (answer.status !== 303) throw new Error(`login failed: ${answer.status}`);
  }
}
