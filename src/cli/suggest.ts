import { distance } from 'fastest-levenshtein';

/**
 * The candidate the user most likely meant: a case-insensitive match, then the shortest candidate containing the
 * input (`tiny` → `hf/fleet/tiny-GGUF`), then the closest by edit distance within a third of the input's length.
 */
export function closestMatch(input: string, candidates: readonly string[]): string | undefined {
  const needle = input.toLowerCase();
  if (!needle) return undefined;
  const exact = candidates.find((c) => c.toLowerCase() === needle);
  if (exact) return exact;
  const containing = candidates.filter((c) => c.toLowerCase().includes(needle));
  if (containing.length) return containing.reduce((a, b) => (b.length < a.length ? b : a));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = distance(needle, c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return bestDistance <= Math.max(2, Math.floor(needle.length / 3)) ? best : undefined;
}

/** `model "x" not found — did you mean "y"?` (or without the suggestion when nothing is close). */
export function notFoundMessage(kind: string, input: string, candidates: readonly string[], hint?: string): string {
  const match = closestMatch(input, candidates);
  const base = `${kind} "${input}" not found`;
  if (match) return `${base} — did you mean "${match}"?`;
  return hint ? `${base}: ${hint}` : base;
}
