/** Ortto's field values as the field mapping reads them (shapes from Ortto's API notes). */
import { describe, expect, it } from 'vitest';
import { contactFromPerson } from '../../src/connectors/ortto/ortto.mapping.js';

const fieldsOf = (fields: Record<string, unknown>) =>
  contactFromPerson('p1', { id: 'p1', fields }).fields;

describe('Ortto field values as text', () => {
  it('writes a phone as +<country code><number>', () => {
    expect(fieldsOf({ 'phn::phone': { c: '61', n: '499999999' } })['phn::phone']).toBe(
      '+61499999999',
    );
  });

  it('writes a phone without a known country code as the number alone (regression: "+null…")', () => {
    for (const c of [null, undefined, '']) {
      expect(fieldsOf({ 'phn::phone': { c, n: '499999999' } })['phn::phone']).toBe('499999999');
    }
  });

  it('writes places by name and dates as YYYY-MM-DD', () => {
    const fields = fieldsOf({
      'geo::city': { name: 'Sydney' },
      'dtz::cm:joined': { day: 1, month: 2, year: 2024, timezone: 'UTC' },
    });
    expect(fields['geo::city']).toBe('Sydney');
    expect(fields['dtz::cm:joined']).toBe('2024-02-01');
  });
});
