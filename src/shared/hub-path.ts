/**
 * A file name from the Hub's API (`siblings[].rfilename`) becomes a URL path on the Hub and a path under MODELS_DIR, so
 * it is checked before any request or write: relative, `/`-separated, no `.` or `..` segment, no empty segment, no
 * backslash, drive letter, NUL or other control character. Returns what is wrong, or null when the name is safe.
 */
export function hubPathProblem(path: string): string | null {
  if (path.length === 0) return 'it is empty';
  if (path.length > 1024) return 'it is longer than 1024 characters';
  if (path.includes('\0')) return 'it contains a NUL character';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(path)) return 'it contains a control character';
  if (path.includes('\\')) return 'it contains a backslash';
  if (/^[A-Za-z]:/.test(path)) return 'it starts with a drive letter';
  if (path.startsWith('/')) return 'it is an absolute path';
  const segments = path.split('/');
  if (segments.some((s) => s === '..')) return 'it has a ".." segment';
  if (segments.some((s) => s === '.')) return 'it has a "." segment';
  if (segments.some((s) => s === '')) return 'it has an empty segment';
  return null;
}

export function isSafeHubPath(path: string): boolean {
  return hubPathProblem(path) === null;
}
