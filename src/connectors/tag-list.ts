/** Tag lists as webhook senders and CRMs write them, read the same way by every connector. */
import { isJsonScalar } from '../lib/json.js';

/** Reads a tag list given as a JSON array, a JSON array in a string, or comma-separated text. */
export function parseTagList(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value))
    return value.map((tag: unknown) => String(tag).trim()).filter((tag) => tag !== '');
  if (!isJsonScalar(value)) return undefined;
  const text = String(value).trim();
  if (text.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (Array.isArray(parsed)) return parseTagList(parsed);
    } catch {
      // not JSON after all: fall through to comma-separated
    }
  }
  return text
    .split(',')
    .map((tag) => tag.trim())
    .filter((tag) => tag !== '');
}
