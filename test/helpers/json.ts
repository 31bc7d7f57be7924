/** Reading parsed JSON in tests without `any`: the value at a path, or undefined where there is none. */
export function jsonAt(value: unknown, ...path: Array<string | number>): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = Reflect.get(current, key);
  }
  return current;
}
