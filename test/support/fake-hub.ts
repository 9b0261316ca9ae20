import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  FaultState,
  type CorruptRule,
  type DelayRule,
  type FailRule,
  type HubRoute,
  type RouteScope,
  type TruncateRule,
} from './fake-hub/faults.js';
import { searchModels } from './fake-hub/search.js';
import {
  buildRepo,
  findCommit,
  head,
  modelFields,
  modelInfoJson,
  treeEntries,
  type FakeFile,
  type FakeRepo,
  type FakeRepoInput,
} from './fake-hub/store.js';

export type { FakeFileInput, FakeRepoInput } from './fake-hub/store.js';
export type { HubRoute, RouteScope } from './fake-hub/faults.js';

export interface HubRequestRecord {
  method: string;
  /** Path as sent (still percent-encoded), without the query. */
  path: string;
  query: string;
  route: HubRoute;
  repo: string | null;
  range: string | null;
  status: number;
}

export interface FakeRepoHandle {
  id: string;
  sha: string;
  files: { path: string; size: number; sha256: string; lfs: boolean }[];
}

export interface FakeHubOptions {
  /** Lifetime of the CDN URLs that resolve redirects to. Default 3600. */
  signedUrlTtlSeconds?: number;
  /** Requests per 5-minute window before a 429, per bucket. Default: so high it never trips. */
  quota?: { api?: number; resolvers?: number };
}

type Auth = 'anonymous' | 'granted' | 'user' | 'invalid';
type Headers = Record<string, string | number>;

const WINDOW_SECONDS = 300;
const NOT_FOUND_PAGE = "Sorry, we can't find the page you are looking for.";

/**
 * A local Hugging Face Hub speaking the wire format of STACK.md: model API, search with cursor paging, tree, resolve with
 * 302s to a signed CDN that honours Range, the Hub's auth and error answers, RateLimit headers, and fault injection.
 */
export class FakeHub {
  readonly requests: HubRequestRecord[] = [];
  private readonly repos = new Map<string, FakeRepo>();
  private readonly faults = new FaultState();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly secret = randomBytes(16);
  private readonly userTokens = new Set<string>();
  private grantToken: string | null = null;
  private urlGeneration = 0;
  private validFromGeneration = 0;
  private windowStart = Date.now();
  private readonly used = { api: 0, resolvers: 0 };
  private readonly quota: { api: number; resolvers: number };
  private readonly signedUrlTtlSeconds: number;
  url = '';

  private constructor(
    private readonly server: Server,
    options: FakeHubOptions,
  ) {
    this.signedUrlTtlSeconds = options.signedUrlTtlSeconds ?? 3600;
    this.quota = { api: options.quota?.api ?? 1_000_000, resolvers: options.quota?.resolvers ?? 1_000_000 };
  }

  static async start(options: FakeHubOptions = {}): Promise<FakeHub> {
    let hub: FakeHub | undefined;
    const server = createServer((req, res) => {
      hub?.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: `FakeHub bug: ${String(err)}` }));
      });
    });
    hub = new FakeHub(server, options);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    hub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return hub;
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Adds the repo, or pushes a new commit to it (older commit shas stay resolvable). */
  addRepo(input: FakeRepoInput): FakeRepoHandle {
    this.repos.set(input.id, buildRepo(input, this.repos.get(input.id)));
    return this.repo(input.id);
  }

  repo(id: string): FakeRepoHandle {
    const repo = this.repos.get(id);
    if (!repo) throw new Error(`FakeHub: no repo ${id}`);
    const commit = head(repo);
    const files = [...commit.files.values()].map((f) => ({ path: f.path, size: f.size, sha256: f.sha256, lfs: f.lfs }));
    return { id, sha: commit.sha, files };
  }

  removeRepo(id: string): void {
    this.repos.delete(id);
  }

  /** Changes what the Hub reports without a commit. */
  updateStats(id: string, stats: { downloads?: number; likes?: number; lastModified?: Date }): void {
    const repo = this.repos.get(id);
    if (!repo) throw new Error(`FakeHub: no repo ${id}`);
    Object.assign(repo, stats);
  }

  /** The token that grants access to every private and gated repo (null: none does). */
  setToken(token: string | null): void {
    this.grantToken = token;
  }

  /** A valid token of a user who has access to no private repo and accepted no gated repo's terms. */
  addUserToken(token: string): void {
    this.userTokens.add(token);
  }

  fail(rule: FailRule): void {
    this.faults.addFail(rule);
  }

  /** Stalls matching requests before answering (the stall outlives client timeouts; stop() cuts it). */
  delay(rule: DelayRule): void {
    this.faults.addDelay(rule);
  }

  /** Limits file bodies (CDN and direct) to this rate; null lifts it. */
  throttle(opts: { bytesPerSecond: number } | null): void {
    this.faults.bytesPerSecond = opts?.bytesPerSecond ?? null;
  }

  truncateAfter(rule: TruncateRule): void {
    this.faults.addTruncation(rule);
  }

  /** Answers ranged requests with 200 and the whole body, as some proxies do. */
  ignoreRange(on: boolean): void {
    this.faults.ignoreRange = on;
  }

  /** Serves different bytes of the same length (ETag and X-Linked-Etag still announce the real sha256). */
  corrupt(rule: CorruptRule): void {
    this.faults.addCorruption(rule);
  }

  /** While on, every CDN request answers 403 as an expired signed URL does. */
  expireSignedUrls(on: boolean): void {
    this.faults.cdnExpired = on;
  }

  /** Expires every signed URL handed out so far; a fresh resolve gets a working one. */
  expireIssuedUrls(): void {
    this.validFromGeneration = this.urlGeneration + 1;
  }

  reset(): void {
    this.faults.clear();
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  count(route: RouteScope = 'all', repo?: string): number {
    return this.requests.filter(
      (r) => (route === 'all' || r.route === route) && (repo === undefined || r.repo === repo),
    ).length;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const segments = url.pathname.split('/').slice(1).map(safeDecode);
    const route: HubRoute =
      segments[0] === 'cdn' ? 'cdn' : segments[0] !== 'api' && segments[2] === 'resolve' ? 'resolve' : 'api';
    const repo =
      route === 'cdn'
        ? join(segments[1], segments[2])
        : route === 'resolve'
          ? join(segments[0], segments[1])
          : segments[1] === 'models'
            ? join(segments[2], segments[3])
            : null;
    const record: HubRequestRecord = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.search,
      route,
      repo,
      range: req.headers.range ?? null,
      status: 0,
    };
    this.requests.push(record);
    const send = (status: number, headers: Headers, body?: string | Buffer): void => {
      record.status = status;
      res.writeHead(status, { ...this.commonHeaders(route), ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const error = (status: number, code: string | null, message: string): void =>
      send(
        status,
        {
          'Content-Type': 'application/json; charset=utf-8',
          'X-Error-Message': message,
          ...(code ? { 'X-Error-Code': code } : {}),
        },
        JSON.stringify({ error: message }),
      );

    const stall = this.faults.takeDelay(route, repo);
    if (stall > 0) await this.sleep(stall);
    if (res.destroyed) return;
    if (this.countAndCheckQuota(route)) return this.rateLimited(send, route, this.windowRemaining());
    const fault = this.faults.takeFail(route, repo);
    if (fault?.status === 429) return this.rateLimited(send, route, fault.retryAfterSeconds ?? 60);
    if (fault) return error(fault.status, null, fault.status === 503 ? 'Service Unavailable' : 'Internal Error');
    if (segments.some((s) => s === null)) return error(400, null, 'Malformed URL');
    const parts = segments as string[];

    if (route === 'cdn') return this.serveCdn(req, res, record, parts, url);
    const auth = this.auth(req);
    if (auth === 'invalid') return error(401, null, 'Invalid credentials in Authorization header');
    if (route === 'api' && url.pathname === '/api/models') {
      const page = searchModels(
        [...this.repos.values()].filter((r) => !r.private || auth === 'granted'),
        url,
        this.url,
      );
      if ('error' in page) return error(400, null, page.error);
      return send(
        200,
        { 'Content-Type': 'application/json; charset=utf-8', ...(page.link ? { Link: page.link } : {}) },
        JSON.stringify(page.items),
      );
    }
    if (!repo || (route === 'api' && segments[1] !== 'models')) return error(404, null, NOT_FOUND_PAGE);

    const found = this.repos.get(repo);
    if (!found || (found.private && auth !== 'granted')) {
      return auth === 'anonymous'
        ? error(401, 'RepoNotFound', 'Repository not found')
        : error(404, 'RepoNotFound', 'Repository not found');
    }
    if (route === 'resolve' && found.gated !== false && auth !== 'granted') {
      return auth === 'anonymous'
        ? error(
            401,
            'GatedRepo',
            `Access to model ${repo} is restricted. You must have access to it and be authenticated to access it. Please log in.`,
          )
        : error(
            403,
            'GatedRepo',
            `Access to model ${repo} is restricted and you are not in the authorized list. Visit ${this.url}/${repo} to ask for access.`,
          );
    }
    const [kind, rev = 'HEAD', ...rest] = route === 'resolve' ? parts.slice(2) : parts.slice(4);
    const revision = kind === undefined ? 'HEAD' : rev;
    const commit = findCommit(found, revision);
    if (!commit) return error(404, 'RevisionNotFound', `Invalid rev id: ${revision}`);
    const json = (body: unknown): void =>
      send(200, { 'Content-Type': 'application/json; charset=utf-8' }, JSON.stringify(body));

    if (route === 'api' && (kind === undefined || kind === 'revision') && rest.length === 0) {
      const info = modelInfoJson(found, commit, url.searchParams.get('blobs') === 'true');
      const expand = [...url.searchParams.getAll('expand'), ...url.searchParams.getAll('expand[]')];
      if (expand.length === 0) return json(info);
      const fields = modelFields(found, commit, false);
      return json(
        Object.fromEntries([['_id', found.objectId], ['id', found.id], ...expand.map((e) => [e, fields[e]])]),
      );
    }
    if (route === 'api' && kind === 'tree') {
      const entries = treeEntries(commit, rest.join('/'), url.searchParams.get('recursive') === 'true');
      return entries ? json(entries) : error(404, 'EntryNotFound', `${rest.join('/')} does not exist on "${revision}"`);
    }
    if (route === 'api') return error(404, null, NOT_FOUND_PAGE);

    const file = commit.files.get(rest.join('/'));
    if (kind !== 'resolve' || !file) return error(404, 'EntryNotFound', 'Entry not found');
    const fileHeaders: Headers = { 'X-Repo-Commit': commit.sha, ETag: `"${file.gitOid}"` };
    if (!file.lfs) return this.serveBytes(req, res, record, repo, file, fileHeaders);
    const location = this.signedUrl(repo, commit.sha, file.path);
    send(
      302,
      {
        ...fileHeaders,
        Location: location,
        'X-Linked-Etag': `"${file.sha256}"`,
        'X-Linked-Size': file.size,
        'Content-Type': 'text/plain; charset=utf-8',
      },
      `Found. Redirecting to ${location}`,
    );
  }

  private serveCdn(
    req: IncomingMessage,
    res: ServerResponse,
    record: HubRequestRecord,
    parts: string[],
    url: URL,
  ): void {
    const [, org = '', name = '', sha = '', ...path] = parts;
    const repoId = `${org}/${name}`;
    const filePath = path.join('/');
    const exp = Number(url.searchParams.get('exp'));
    const gen = Number(url.searchParams.get('gen'));
    const expired = this.faults.cdnExpired || exp * 1000 < Date.now() || gen < this.validFromGeneration;
    const valid = url.searchParams.get('sig') === this.sign(repoId, sha, filePath, exp, gen);
    const deny = (message: string): void => {
      record.status = 403;
      res.writeHead(403, { 'Content-Type': 'application/xml' });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>${message}</Message></Error>`,
      );
    };
    if (!valid) return deny('Invalid signature');
    if (expired) return deny('Request has expired');
    const repo = this.repos.get(repoId);
    const file = repo && findCommit(repo, sha)?.files.get(filePath);
    if (!file) return deny('Not found');
    this.serveBytes(req, res, record, repoId, file, { ETag: `"${file.sha256}"`, 'X-Cache': 'Miss from fakefront' });
  }

  private serveBytes(
    req: IncomingMessage,
    res: ServerResponse,
    record: HubRequestRecord,
    repo: string,
    file: FakeFile,
    headers: Headers,
  ): void {
    const range = this.faults.ignoreRange ? null : parseRange(req.headers.range, file.size);
    if (range === 'unsatisfiable') {
      record.status = 416;
      res.writeHead(416, { ...this.commonHeaders(record.route), 'Content-Range': `bytes */${file.size}` });
      res.end();
      return;
    }
    const [start, end] = range ?? [0, file.size - 1];
    record.status = range ? 206 : 200;
    res.writeHead(record.status, {
      ...this.commonHeaders(record.route),
      ...headers,
      'Content-Type': 'application/octet-stream',
      'Content-Length': end - start + 1,
      'Accept-Ranges': 'bytes',
      ...(range ? { 'Content-Range': `bytes ${start}-${end}/${file.size}` } : {}),
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const body = this.faults.apply(repo, file.path, file.size, start, file.content.subarray(start, end + 1));
    void this.writeBody(res, body, this.faults.takeTruncation(repo, file.path, start));
  }

  private async writeBody(res: ServerResponse, body: Buffer, cutAt: number | undefined): Promise<void> {
    const limit = cutAt === undefined ? body.length : Math.min(cutAt, body.length);
    const finish = (): void => {
      if (cutAt === undefined) res.end();
      else res.destroy();
    };
    const bps = this.faults.bytesPerSecond;
    if (!bps) {
      res.write(body.subarray(0, limit), finish);
      return;
    }
    const chunk = Math.max(1, Math.floor(bps / 20));
    for (let offset = 0; offset < limit; offset += chunk) {
      if (res.destroyed) return;
      if (!res.write(body.subarray(offset, Math.min(limit, offset + chunk)))) await drained(res);
      await this.sleep((chunk / bps) * 1000);
    }
    if (!res.destroyed) finish();
  }

  private signedUrl(repo: string, sha: string, path: string): string {
    this.urlGeneration += 1;
    const exp = Math.floor(Date.now() / 1000) + this.signedUrlTtlSeconds;
    const sig = this.sign(repo, sha, path, exp, this.urlGeneration);
    const encoded = path.split('/').map(encodeURIComponent).join('/');
    return `${this.url}/cdn/${repo}/${sha}/${encoded}?exp=${exp}&gen=${this.urlGeneration}&sig=${sig}`;
  }

  private sign(repo: string, sha: string, path: string, exp: number, gen: number): string {
    return createHmac('sha256', this.secret).update(`${repo}\n${sha}\n${path}\n${exp}\n${gen}`).digest('hex');
  }

  private auth(req: IncomingMessage): Auth {
    const header = req.headers.authorization;
    if (!header) return 'anonymous';
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    if (token && token === this.grantToken) return 'granted';
    return token && this.userTokens.has(token) ? 'user' : 'invalid';
  }

  private bucket(route: HubRoute): 'api' | 'resolvers' | null {
    return route === 'cdn' ? null : route === 'api' ? 'api' : 'resolvers';
  }

  private windowRemaining(): number {
    const elapsed = (Date.now() - this.windowStart) / 1000;
    if (elapsed >= WINDOW_SECONDS) {
      this.windowStart = Date.now();
      this.used.api = 0;
      this.used.resolvers = 0;
      return WINDOW_SECONDS;
    }
    return Math.max(1, Math.ceil(WINDOW_SECONDS - elapsed));
  }

  /** Counts the request against its bucket; true when that exceeds the quota. */
  private countAndCheckQuota(route: HubRoute): boolean {
    const bucket = this.bucket(route);
    if (!bucket) return false;
    this.windowRemaining();
    this.used[bucket] += 1;
    return this.used[bucket] > this.quota[bucket];
  }

  private commonHeaders(route: HubRoute): Headers {
    const bucket = this.bucket(route);
    if (!bucket) return {};
    const reset = this.windowRemaining();
    const remaining = Math.max(0, this.quota[bucket] - this.used[bucket]);
    return {
      'X-Request-Id': `Root=${randomUUID()}`,
      RateLimit: `"${bucket}";r=${remaining};t=${reset}`,
      'RateLimit-Policy': `"fixed window";"${bucket}";q=${this.quota[bucket]};w=${WINDOW_SECONDS}`,
    };
  }

  private rateLimited(
    send: (status: number, headers: Headers, body: string) => void,
    route: HubRoute,
    seconds: number,
  ): void {
    const message = 'You have exceeded our rate limit. Retry later or authenticate to get a higher limit.';
    const bucket = this.bucket(route) ?? 'cdn';
    send(
      429,
      {
        'Content-Type': 'application/json; charset=utf-8',
        'X-Error-Message': message,
        'Retry-After': seconds,
        RateLimit: `"${bucket}";r=0;t=${seconds}`,
      },
      JSON.stringify({ error: message }),
    );
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }
}

function safeDecode(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

function join(org: string | null | undefined, name: string | null | undefined): string | null {
  return org && name ? `${org}/${name}` : null;
}

/** [start, end] inclusive, null to serve the whole body (no or unsupported Range), or 'unsatisfiable'. */
function parseRange(header: string | undefined, size: number): [number, number] | null | 'unsatisfiable' {
  const match = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!match || (match[1] === '' && match[2] === '')) return null;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    return suffix === 0 || size === 0 ? 'unsatisfiable' : [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  return start >= size || start > end ? 'unsatisfiable' : [start, end];
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
