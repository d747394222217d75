import { createTwoFilesPatch } from 'diff';

/** A unified diff of the live file against what would be written (empty when equal). */
export function unifiedDiff(live: string, next: string, path: string): string {
  if (live === next) return '';
  return createTwoFilesPatch(`${path} (live)`, `${path} (rendered)`, live, next, undefined, undefined, {
    context: 3,
  });
}
