/**
 * Look-ups keyed by data from outside (CRM field names, option ids) see own
 * properties only. Regression: a CRM field named `constructor` became a meta
 * key, because the field map found Object.prototype.constructor.
 */
import { describe, expect, it } from 'vitest';
import { mapContact, shownFields } from '../../src/runs/rules.js';
import { mergeFieldMap } from '../../src/connections/registry.js';
import { labelOptions } from '../../src/connectors/ontraport/ontraport.mapping.js';

const INHERITED = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__proto__'];

describe('own-property look-ups', () => {
  it('maps no CRM field through a name Object.prototype has', () => {
    const fields = Object.fromEntries(INHERITED.map((name) => [name, `value of ${name}`]));
    const contact = { id: '1', email: 'a@example.com', fields, tags: [] };
    const fieldMap = mergeFieldMap({ email: 'email' }, {});
    expect(mapContact(contact, fieldMap, false)).toEqual({ email: 'a@example.com', meta: {} });
    const asMeta = mapContact(contact, fieldMap, true).meta;
    for (const name of ['constructor', 'toString', 'hasOwnProperty', 'valueOf'])
      expect(asMeta[name]).toBe(`value of ${name}`);
    // `__proto__` cannot be a plain object's key; it is dropped, and pollutes nothing.
    expect(Object.getPrototypeOf(asMeta)).toBe(Object.prototype);
  });

  it('shows fields by the field map only where the map has the field', () => {
    expect(shownFields({ constructor: 'x', toString: 'y' }, {}, { unmappedAsMeta: false })).toEqual(
      {},
    );
    expect(shownFields({ constructor: 'x', toString: 'y' }, {}, { unmappedAsMeta: true })).toEqual({
      constructor: 'x',
      toString: 'y',
    });
  });

  it('labels Ontraport option values by own option ids only', () => {
    const options = new Map([['constructor', { kind: 'drop' as const, options: { '1': 'Gold' } }]]);
    expect(labelOptions({ constructor: 'toString' }, options)).toEqual({ constructor: 'toString' });
    expect(labelOptions({ other: '1' }, options)).toEqual({ other: '1' });
  });
});
