import { head, modelFields, type FakeRepo } from './store.js';

const EXPANDABLE = new Set([
  'author',
  'createdAt',
  'disabled',
  'downloads',
  'gated',
  'gguf',
  'lastModified',
  'library_name',
  'likes',
  'pipeline_tag',
  'private',
  'sha',
  'siblings',
  'spaces',
  'tags',
  'trendingScore',
  'usedStorage',
]);
const DEFAULT_FIELDS = [
  'likes',
  'downloads',
  'trendingScore',
  'private',
  'tags',
  'pipeline_tag',
  'library_name',
  'createdAt',
];
const SORTS: Record<string, (r: FakeRepo) => number | string> = {
  downloads: (r) => r.downloads,
  likes: (r) => r.likes,
  trendingScore: (r) => r.trendingScore,
  lastModified: (r) => r.lastModified.getTime(),
  createdAt: (r) => r.createdAt.getTime(),
  id: (r) => r.id,
};
const MAX_LIMIT = 1000;

const encodeCursor = (offset: number): string => Buffer.from(JSON.stringify({ offset })).toString('base64url');

function decodeCursor(cursor: string): number | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (typeof value !== 'object' || value === null || !('offset' in value)) return null;
    const offset = value.offset;
    return typeof offset === 'number' && Number.isInteger(offset) && offset >= 0 ? offset : null;
  } catch {
    return null;
  }
}

export type SearchResult = { items: Record<string, unknown>[]; link: string | null } | { error: string };

/** `GET /api/models`: search (id substring), author, filter (tags), sort (descending unless direction=1), limit, cursor. */
export function searchModels(visible: FakeRepo[], url: URL, base: string): SearchResult {
  const q = url.searchParams;
  const expand = [...q.getAll('expand'), ...q.getAll('expand[]')];
  const unknown = expand.find((e) => !EXPANDABLE.has(e));
  if (unknown !== undefined) return { error: `"expand" must be one of ${[...EXPANDABLE].join(', ')} (got ${unknown})` };

  const search = q.get('search')?.toLowerCase();
  const author = q.get('author');
  const filters = q
    .getAll('filter')
    .flatMap((f) => f.split(','))
    .filter(Boolean);
  let list = visible.filter(
    (r) =>
      (!search || r.id.toLowerCase().includes(search)) &&
      (!author || r.id.startsWith(`${author}/`)) &&
      filters.every((f) => r.tags.includes(f)),
  );

  const sort = q.get('sort');
  if (sort !== null) {
    const key = SORTS[sort];
    if (!key) return { error: `"sort" must be one of ${Object.keys(SORTS).join(', ')}` };
    const sign = q.get('direction') === '1' ? 1 : -1;
    list = [...list].sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      return x < y ? -sign : x > y ? sign : a.id.localeCompare(b.id);
    });
  }

  const limitParam = q.get('limit');
  const limit = limitParam === null ? MAX_LIMIT : Number(limitParam);
  if (!Number.isInteger(limit) || limit < 1) return { error: '"limit" must be a positive integer' };
  const cursor = q.get('cursor');
  const offset = cursor === null ? 0 : decodeCursor(cursor);
  if (offset === null) return { error: 'Invalid cursor' };

  const pageSize = Math.min(limit, MAX_LIMIT);
  const items = list.slice(offset, offset + pageSize).map((repo) => {
    const fields = modelFields(repo, head(repo), false);
    const chosen = expand.length > 0 ? expand : DEFAULT_FIELDS;
    return {
      _id: repo.objectId,
      id: repo.id,
      modelId: repo.id,
      ...Object.fromEntries(chosen.map((f) => [f, fields[f]])),
    };
  });
  let link: string | null = null;
  if (offset + pageSize < list.length) {
    const next = new URLSearchParams(q);
    next.set('cursor', encodeCursor(offset + pageSize));
    link = `<${base}/api/models?${next.toString()}>; rel="next"`;
  }
  return { items, link };
}
