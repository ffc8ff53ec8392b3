/** Small helpers shared by the adapters. */

export { chunk } from '../collections.js';

/** Ids or names for an error message: the first few and how many more, never a wall of text. */
export function listForMessage(items: readonly string[], shown = 5): string {
  if (items.length <= shown) return items.join(',');
  return `${items.slice(0, shown).join(',')} +${items.length - shown} more`;
}
