/**
 * What the inbox keeps of a webhook's secrets. Stored parameters, the contact
 * snapshot and the raw request are kept with secrets masked; the values a run
 * or a replay needs (a `user_pass` from the payload, say) are kept sealed
 * beside them, readable only with the sealing key, never by `events show`,
 * the activity log or the API.
 */
import { isSecretName, MASK, redactBody, redactUrl } from '../lib/secrets.js';
import type { Sealer } from '../lib/seal.js';
import { AppError } from '../errors.js';
import type { StoredParams } from './stored-params.js';

/** The raw request as stored: method, URL and body as received, less the access key. */
export interface StoredRequest {
  method: string;
  url: string;
  contentType: string | null;
  body: string | null;
  /** The URL and body with their secrets, sealed; absent when they had none. */
  sealed?: string | undefined;
}

interface SealedValues {
  raw?: Record<string, string>;
  fields?: Record<string, string>;
}

type ParamsLike = Partial<StoredParams> & { raw: Record<string, string> };

/** Splits secret values out of `values`: the masked copy, and what was taken out. */
function split(values: Readonly<Record<string, string>>, isSecret: (name: string) => boolean) {
  const masked: Record<string, string> = {};
  const taken: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    if (isSecret(key) && value !== '') {
      masked[key] = MASK;
      taken[key] = value;
    } else {
      masked[key] = value;
    }
  }
  return { masked, taken, any: Object.keys(taken).length > 0 };
}

/** Opens a sealed value; one sealed under another key is a permanent failure, never a silent `***`. */
function openSealed(sealer: Sealer, sealed: string): string {
  try {
    return sealer.open(sealed);
  } catch {
    throw new AppError(
      'SEALED_VALUE_UNREADABLE',
      'this webhook was stored under another encryption key',
    );
  }
}

/**
 * The `params` column for an event. `isSecretField` names the contact fields
 * that hold secrets beyond the name rule (fields mapped to `user_pass`, the
 * Return Password field).
 */
export function sealParams(
  params: ParamsLike,
  sealer: Sealer,
  isSecretField: (name: string) => boolean = () => false,
): string {
  const raw = split(params.raw, isSecretName);
  const fields = params.contact
    ? split(params.contact.fields, (name) => isSecretName(name) || isSecretField(name))
    : undefined;
  const sealedValues: SealedValues = {};
  if (raw.any) sealedValues.raw = raw.taken;
  if (fields?.any) sealedValues.fields = fields.taken;
  const stored: ParamsLike & { sealed?: string } = { ...params, raw: raw.masked };
  if (params.contact && fields) stored.contact = { ...params.contact, fields: fields.masked };
  if (raw.any || fields?.any) stored.sealed = sealer.seal(JSON.stringify(sealedValues));
  return JSON.stringify(stored);
}

/** The stored parameters with their sealed secrets put back, for a run. */
export function openParams(text: string, sealer: Sealer): StoredParams {
  const { sealed, ...params } = JSON.parse(text) as StoredParams & { sealed?: string };
  if (!sealed) return params;
  const values = JSON.parse(openSealed(sealer, sealed)) as SealedValues;
  return {
    ...params,
    raw: { ...params.raw, ...values.raw },
    contact: params.contact
      ? { ...params.contact, fields: { ...params.contact.fields, ...values.fields } }
      : undefined,
  };
}

/** The `request` column for an event: shown parts masked, the original sealed when they differ. */
export function sealRequest(request: Omit<StoredRequest, 'sealed'>, sealer: Sealer): string {
  const url = redactUrl(request.url);
  const body = redactBody(request.body, request.contentType);
  const stored: StoredRequest = { ...request, url, body };
  if (url !== request.url || body !== request.body) {
    stored.sealed = sealer.seal(JSON.stringify({ url: request.url, body: request.body }));
  }
  return JSON.stringify(stored);
}

export function parseStoredRequest(text: string): StoredRequest {
  return JSON.parse(text) as StoredRequest;
}

/** The request as received (less the key), for a replay. */
export function openRequest(text: string, sealer: Sealer): Omit<StoredRequest, 'sealed'> {
  const { sealed, ...request } = parseStoredRequest(text);
  if (!sealed) return request;
  const original = JSON.parse(openSealed(sealer, sealed)) as { url: string; body: string | null };
  return { ...request, url: original.url, body: original.body };
}
