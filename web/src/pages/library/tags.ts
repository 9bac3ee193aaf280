/** `"a, b ,,c"` → `['a','b','c']` (trimmed, no empties, no repeats). */
export function parseTags(text: string): string[] {
  return [...new Set(text.split(',').map((t) => t.trim().replace(/^#/, '')).filter(Boolean))];
}

/** What to send to `PATCH /api/content/{id}` to go from `before` to `after`. */
export function tagChanges(before: string[], after: string[]) {
  return {
    add_tags: after.filter((t) => !before.includes(t)),
    remove_tags: before.filter((t) => !after.includes(t)),
  };
}
