/** Small helpers shared by the adapters. */

/** Consecutive slices of at most `size` items (an API's per-call limit). */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Ids or names for an error message: the first few and how many more, never a wall of text. */
export function listForMessage(items: readonly string[], shown = 5): string {
  if (items.length <= shown) return items.join(',');
  return `${items.slice(0, shown).join(',')} +${items.length - shown} more`;
}
