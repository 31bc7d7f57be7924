/**
 * Runs in every test file (vitest `setupFiles`): the file fails when it leaves
 * open anything a test helper started. Registered first, this afterAll runs
 * after the file's own afterAll hooks.
 */
import { afterAll, expect } from 'vitest';
import { takeStillOpen } from '../helpers/open-resources.js';

afterAll(() => {
  expect(takeStillOpen(), 'started by this test file and never closed').toEqual([]);
});
