/** The check every API connector makes on its connection's API URL. */
import { AppError } from '../errors.js';
import type { ConnectionConfig } from './types.js';

/** The connection's API URL, trimmed; a missing or non-http(s) one is a configuration error. */
export function requireApiUrl(connection: ConnectionConfig<unknown>, what = 'an API URL'): string {
  const url = connection.apiUrl?.trim();
  if (!url) throw new AppError('INVALID_CONFIG', `connection ${connection.id} needs ${what}`);
  if (!URL.canParse(url) || !/^https?:/i.test(url)) {
    throw new AppError(
      'INVALID_CONFIG',
      `connection ${connection.id}: "${url}" is not an http(s) URL`,
    );
  }
  return url;
}
