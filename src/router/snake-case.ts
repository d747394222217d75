/** `appliedGeneration` → `applied_generation`; keys already in snake_case are returned unchanged. */
export function snakeCase(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

/**
 * A copy of `value` whose object keys (at every depth, inside arrays too) are in snake_case: the one
 * conversion at the `/status` boundary, so TypeScript names may stay camelCase. Values are not touched.
 */
export function snakeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [snakeCase(k), snakeKeys(v)]));
}
