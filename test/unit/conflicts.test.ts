/** Deadlocks and serialization failures run again at once; other errors do not. */
import { describe, expect, it } from 'vitest';
import { toAppError } from '../../src/errors.js';
import { retryOnConflict } from '../../src/storage/conflicts.js';

const failing = (codes: string[]) => {
  let calls = 0;
  const work = () => {
    const code = codes[calls];
    calls += 1;
    return code === undefined
      ? Promise.resolve('done')
      : Promise.reject(Object.assign(new Error(`failed with ${code}`), { code }));
  };
  return { work, calls: () => calls };
};

describe('retryOnConflict', () => {
  it('runs again at once after a deadlock or a serialization failure', async () => {
    const run = failing(['40P01', '40001']);
    await expect(retryOnConflict(run.work)).resolves.toBe('done');
    expect(run.calls()).toBe(3);
  });

  it('gives up after a few runs, and never retries other errors', async () => {
    const conflicts = failing(['40P01', '40P01', '40P01']);
    await expect(retryOnConflict(conflicts.work, 3)).rejects.toThrow('40P01');
    expect(conflicts.calls()).toBe(3);
    const other = failing(['23505']);
    await expect(retryOnConflict(other.work)).rejects.toThrow('23505');
    expect(other.calls()).toBe(1);
  });
});

describe('storage errors', () => {
  it('a database that is away is STORAGE_UNAVAILABLE (retryable), not INTERNAL', () => {
    for (const code of ['57P01', '08006', 'ECONNREFUSED', 'SQLITE_BUSY', 'SQLITE_READONLY']) {
      const error = toAppError(Object.assign(new Error('away'), { code }));
      expect([code, error.code, error.retryable]).toEqual([code, 'STORAGE_UNAVAILABLE', true]);
    }
    expect(toAppError(new Error('Connection terminated unexpectedly')).code).toBe(
      'STORAGE_UNAVAILABLE',
    );
  });
});
