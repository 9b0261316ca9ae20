import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveBytes, type ByteServing, type Headers } from './fake-hub/bytes.js';
import {
  FaultState,
  type CorruptRule,
  type DelayRule,
  type FailRule,
  type HubRoute,
  type RouteScope,
  type TruncateRule,
} from './fake-hub/faults.js';
import { bucketOf, RateWindow } from './fake-hub/rate-limit.js';
import { searchModels } from './fake-hub/search.js';
import {
  buildRepo,
  findCommit,
  head,
  modelFields,
  modelInfoJson,
  treeEntries,
  type FakeRepo,
  type FakeRepoInput,
} from './fake-hub/store.js';

export type { FakeFileInput, FakeRepoInput, FakeGgufInput } from './fake-hub/store.js';
export type { CorruptRule, DelayRule, FailRule, HubRoute, RouteScope, TruncateRule } from './fake-hub/faults.js';

export interface HubRequestRecord {
  method: string;
  /** Path as sent (still percent-encoded), without the query. */
  path: string;
  /** `?a=b...` or ''. */
  query: string;
  route: HubRoute;
  repo: string | null;
  range: string | null;
  /** Status answered; 0 while the request is stalled. */
  status: number;
}

export interface FakeRepoHandle {
  id: string;
  /** The head commit. */
  sha: string;
  files: { path: string; size: number; sha256: string; lfs: boolean }[];
}

export interface FakeHubOptions {
  /** Lifetime of the CDN URLs that resolves redirect to. Default 3600. */
  signedUrlTtlSeconds?: number;
  /** Requests per 5-minute window before a 429, per bucket. Default: so high it never trips. */
  quota?: { api?: number; resolvers?: number };
}

type Auth = 'anonymous' | 'granted' | 'user' | 'invalid';
type Send = (status: number, headers: Headers, body?: string) => void;
type SendError = (status: number, code: string | null, message: string) => void;

const JSON_TYPE = 'application/json; charset=utf-8';
const NOT_FOUND_PAGE = "Sorry, we can't find the page you are looking for.";

/**
 * A local Hugging Face Hub speaking the wire format of STACK.md: model API, search with cursor paging, tree, resolve with
 * 302s to a signed CDN that honours Range, the Hub's auth and error answers, RateLimit headers, and fault injection.
 */
export class FakeHub {
  /** Every request received, in order. */
  readonly requests: HubRequestRecord[] = [];
  url = '';
  private readonly repos = new Map<string, FakeRepo>();
  private readonly faults = new FaultState();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly secret = randomBytes(16);
  private readonly userTokens = new Set<string>();
  private grantToken: string | null = null;
  private urlGeneration = 0;
  private validFromGeneration = 0;
  private readonly rates: RateWindow;
  private readonly signedUrlTtlSeconds: number;
  private readonly serving: ByteServing;

  private constructor(
    private readonly server: Server,
    options: FakeHubOptions,
  ) {
    this.signedUrlTtlSeconds = options.signedUrlTtlSeconds ?? 3600;
    this.rates = new RateWindow({ api: options.quota?.api ?? 1e9, resolvers: options.quota?.resolvers ?? 1e9 });
    this.serving = { faults: this.faults, sleep: (ms) => this.sleep(ms), bodies: { active: 0, peak: 0, bytesSent: 0 } };
  }

  static async start(options: FakeHubOptions = {}): Promise<FakeHub> {
    const server = createServer((req, res) => {
      hub.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': JSON_TYPE });
        res.end(JSON.stringify({ error: `FakeHub bug: ${String(err)}` }));
      });
    });
    const hub = new FakeHub(server, options);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    hub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return hub;
  }

  /** Cuts stalled and throttled answers and open connections, then closes. */
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
    const commit = head(this.mustGet(id));
    const files = [...commit.files.values()].map((f) => ({ path: f.path, size: f.size, sha256: f.sha256, lfs: f.lfs }));
    return { id, sha: commit.sha, files };
  }

  removeRepo(id: string): void {
    this.repos.delete(id);
  }

  /** Changes what the Hub reports without a commit. */
  updateStats(id: string, stats: { downloads?: number; likes?: number; lastModified?: Date }): void {
    Object.assign(this.mustGet(id), stats);
  }

  /** The token that grants access to every private and gated repo (null: none does). Other tokens are invalid. */
  setToken(token: string | null): void {
    this.grantToken = token;
  }

  /** A valid token of a user who can see no private repo and accepted no gated repo's terms. */
  addUserToken(token: string): void {
    this.userTokens.add(token);
  }

  /** Matching requests answer `status` (429 with RateLimit t= and Retry-After). */
  fail(rule: FailRule): void {
    this.faults.addFail(rule);
  }

  /** Stalls matching requests before answering (for client timeouts; stop() cuts the stall). */
  delay(rule: DelayRule): void {
    this.faults.addDelay(rule);
  }

  /** Limits each file body (CDN and direct) to this rate, as a CDN caps each connection; null lifts it. */
  throttle(opts: { bytesPerSecond: number } | null): void {
    this.faults.bytesPerSecond = opts?.bytesPerSecond ?? null;
  }

  /** Closes the socket mid-body once it reaches file offset `bytes` (a Range resume from there goes through). */
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

  /** Clears every injected fault (not the repos, tokens or request log). */
  reset(): void {
    this.faults.clear();
  }

  clearRequests(): void {
    this.requests.length = 0;
    this.serving.bodies.peak = this.serving.bodies.active;
    this.serving.bodies.bytesSent = 0;
  }

  /** File body bytes sent (CDN or direct) since the last clearRequests(): what clients took from the Hub. */
  bytesSent(): number {
    return this.serving.bodies.bytesSent;
  }

  /** The most file bodies (CDN or direct) sent at once since the last clearRequests(): a client's connections. */
  get peakConcurrentBodies(): number {
    return this.serving.bodies.peak;
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
    const repoAt = route === 'cdn' ? 1 : route === 'resolve' ? 0 : segments[1] === 'models' ? 2 : -1;
    const repo = repoAt >= 0 ? join(segments[repoAt], segments[repoAt + 1]) : null;
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
    const bucket = bucketOf(route);
    const common = (): Headers => (bucket ? { 'X-Request-Id': randomUUID(), ...this.rates.headers(bucket) } : {});
    const send: Send = (status, headers, body) => {
      record.status = status;
      res.writeHead(status, { ...common(), ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const error: SendError = (status, code, message) =>
      send(
        status,
        { 'Content-Type': JSON_TYPE, 'X-Error-Message': message, ...(code ? { 'X-Error-Code': code } : {}) },
        JSON.stringify({ error: message }),
      );

    const stall = this.faults.takeDelay(route, repo);
    if (stall > 0) await this.sleep(stall);
    if (res.destroyed) return;
    if (bucket && this.rates.take(bucket)) return rateLimited(send, bucket, this.rates.resetIn());
    const fault = this.faults.takeFail(route, repo);
    if (fault?.status === 429) return rateLimited(send, bucket ?? 'cdn', fault.retryAfterSeconds ?? 60);
    if (fault) return error(fault.status, null, fault.status === 503 ? 'Service Unavailable' : 'Internal Error');
    if (segments.some((s) => s === null)) return error(400, null, 'Malformed URL');
    const parts = segments as string[];

    if (route === 'cdn') {
      record.status = this.serveCdn(req, res, parts, url);
      return;
    }
    const auth = this.auth(req);
    if (auth === 'invalid') return error(401, null, 'Invalid credentials in Authorization header');
    if (url.pathname === '/api/models' || url.pathname === '/api/models/') {
      const visible = [...this.repos.values()].filter((r) => !r.private || auth === 'granted');
      const page = searchModels(visible, url, this.url);
      if ('error' in page) return error(400, null, page.error);
      const link: Headers = page.link ? { Link: page.link } : {};
      return send(200, { 'Content-Type': JSON_TYPE, ...link }, JSON.stringify(page.items));
    }
    if (!repo) return error(404, null, NOT_FOUND_PAGE);

    const found = this.repos.get(repo);
    if (!found || (found.private && auth !== 'granted')) {
      return error(auth === 'anonymous' ? 401 : 404, 'RepoNotFound', 'Repository not found');
    }
    if (route === 'resolve' && found.gated !== false && auth !== 'granted') {
      return auth === 'anonymous'
        ? error(401, 'GatedRepo', `Access to model ${repo} is restricted. You must be authenticated to access it.`)
        : error(403, 'GatedRepo', `Access to model ${repo} is restricted and you are not in the authorized list.`);
    }
    const [kind, rev = 'HEAD', ...rest] = route === 'resolve' ? parts.slice(2) : parts.slice(4);
    const revision = kind === undefined ? 'HEAD' : rev;
    const commit = findCommit(found, revision);
    if (!commit) return error(404, 'RevisionNotFound', `Invalid rev id: ${revision}`);
    const path = rest.join('/');

    if (route === 'api') {
      const json = (body: unknown): void => send(200, { 'Content-Type': JSON_TYPE }, JSON.stringify(body));
      if ((kind === undefined || kind === 'revision') && rest.length === 0) {
        const expand = [...url.searchParams.getAll('expand'), ...url.searchParams.getAll('expand[]')];
        if (expand.length === 0) return json(modelInfoJson(found, commit, url.searchParams.get('blobs') === 'true'));
        const fields = modelFields(found, commit, false);
        return json({ _id: found.objectId, id: found.id, ...Object.fromEntries(expand.map((e) => [e, fields[e]])) });
      }
      if (kind !== 'tree') return error(404, null, NOT_FOUND_PAGE);
      const entries = treeEntries(commit, path, url.searchParams.get('recursive') === 'true');
      return entries ? json(entries) : error(404, 'EntryNotFound', `${path} does not exist on "${revision}"`);
    }

    const file = commit.files.get(path);
    if (!file) return error(404, 'EntryNotFound', 'Entry not found');
    const fileHeaders: Headers = { ...common(), 'X-Repo-Commit': commit.sha, ETag: `"${file.gitOid}"` };
    if (!file.lfs) {
      record.status = serveBytes(req, res, repo, file, fileHeaders, this.serving);
      return;
    }
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

  /** `/cdn/{org}/{name}/{sha}/{file}?exp&gen&sig`: no auth, only the signature and its expiry. */
  private serveCdn(req: IncomingMessage, res: ServerResponse, parts: string[], url: URL): number {
    const [, org = '', name = '', sha = '', ...path] = parts;
    const repoId = `${org}/${name}`;
    const filePath = path.join('/');
    const exp = Number(url.searchParams.get('exp'));
    const gen = Number(url.searchParams.get('gen'));
    const deny = (message: string): number => {
      res.writeHead(403, { 'Content-Type': 'application/xml' });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>${message}</Message></Error>`,
      );
      return 403;
    };
    if (url.searchParams.get('sig') !== this.sign(repoId, sha, filePath, exp, gen)) return deny('Invalid signature');
    if (this.faults.cdnExpired || exp * 1000 < Date.now() || gen < this.validFromGeneration) {
      return deny('Request has expired');
    }
    const repo = this.repos.get(repoId);
    const file = repo && findCommit(repo, sha)?.files.get(filePath);
    if (!file) return deny('Not found');
    return serveBytes(
      req,
      res,
      repoId,
      file,
      { ETag: `"${file.sha256}"`, 'X-Cache': 'Miss from fakefront' },
      this.serving,
    );
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

  private mustGet(id: string): FakeRepo {
    const repo = this.repos.get(id);
    if (!repo) throw new Error(`FakeHub: no repo ${id}`);
    return repo;
  }

  /** Every wait goes through here (stalls, throttling), so stop() can cut them all. */
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

function rateLimited(send: Send, bucket: string, seconds: number): void {
  const message = 'You have exceeded our rate limit. Retry later or authenticate to get a higher limit.';
  const headers: Headers = {
    'Content-Type': JSON_TYPE,
    'X-Error-Message': message,
    'Retry-After': seconds,
    RateLimit: `"${bucket}";r=0;t=${seconds}`,
  };
  send(429, headers, JSON.stringify({ error: message }));
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
