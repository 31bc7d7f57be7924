/** A JSON scalar: what a CRM's field or tag or a setting holds, and what reads the same as text. */
export function isJsonScalar(value: unknown): value is string | number | boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}
