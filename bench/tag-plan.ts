/**
 * Which tags each benchmark contact carries in the CRM, so the benchmark can
 * check the users' final tags without asking the CRM: the first generation
 * before the burst, the second after it (every contact's tags change).
 */
export type TagGeneration = 'first' | 'second';

/** Tag ids of the contact at `index`, picked from `tagIds` (at least 4). */
export function tagsOf(generation: TagGeneration, index: number, tagIds: string[]): string[] {
  const pick = (n: number) => tagIds[n % tagIds.length] ?? '';
  return generation === 'first'
    ? [pick(index), pick(index + 1)]
    : [pick(index + 2), pick(index + 3), pick(index + 4)];
}
