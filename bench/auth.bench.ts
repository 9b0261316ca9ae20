import type { IncomingMessage } from 'node:http';
import { AuthService } from '../src/auth/auth.service.js';
import { AppHarness } from '../test/support/app-harness.js';
import type { Benchmark, BenchResult } from './bench.types.js';
import { HttpLoad, type DurationReply } from './lib/http-load.js';
import { fmt, log, summarize } from './lib/stats.js';

const CONCURRENCY = 16;
const WARMUP_MS = 1000;
const PHASE_MS = 4000;
const BODY = JSON.stringify({ query: '{ __typename }' });
/** In-process calls of AuthService per credential kind (each with a request object of its own, as HTTP has). */
const CALLS = 20_000;
/** Keys created to time a key's first use (a database lookup) against its later ones (the cached principal). */
const FRESH_KEYS = 100;

type Label = 'bearer' | 'cookie' | 'envKey' | 'none';

const LABELS: Record<Label, string> = {
  bearer: 'VIEWER key (Bearer)',
  cookie: 'session cookie',
  envKey: 'ADMIN_API_KEY (Bearer)',
  none: 'no credentials (401)',
};

interface Phase {
  label: Label;
  reply: DurationReply;
}

/** A request object as AuthService sees one (a new object each time: the per-request memo never hits). */
const fakeRequest = (headers: Record<string, string>): IncomingMessage =>
  ({ headers, url: '/graphql', method: 'POST' }) as unknown as IncomingMessage;

/** Microseconds per AuthService.authorize call for these headers, `CALLS` in a row on the main thread. */
async function authorizeCost(auth: AuthService, headers: Record<string, string>): Promise<number> {
  for (let i = 0; i < 500; i++) await auth.principalFor(fakeRequest(headers));
  const start = performance.now();
  for (let i = 0; i < CALLS; i++) await auth.principalFor(fakeRequest(headers));
  return ((performance.now() - start) * 1000) / CALLS;
}

export const authBench: Benchmark = {
  name: 'auth',
  description:
    `{ __typename } with a VIEWER key, a session cookie, ADMIN_API_KEY and no credentials, ${CONCURRENCY} in ` +
    `flight; AuthService's cost per request in-process (cached principal, session, first use of a key)`,
  async run(): Promise<BenchResult[]> {
    let app: AppHarness | null = null;
    const load = HttpLoad.start();
    try {
      app = await AppHarness.start();
      const viewer = await app.createKey('VIEWER', 'bench');
      const login = await fetch(`${app.url}/api/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ key: viewer }),
      });
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
      if (login.status !== 200 || !cookie) throw new Error(`sign-in failed: ${login.status}`);
      const headers: Record<Label, Record<string, string>> = {
        bearer: app.authHeaders(viewer),
        cookie: { cookie },
        envKey: app.authHeaders(),
        none: {},
      };

      const url = `${app.url}/graphql`;
      const measure = async (label: Label, durationMs: number): Promise<Phase> => {
        const reply = await load.duration({
          url,
          headers: headers[label],
          body: BODY,
          concurrency: CONCURRENCY,
          durationMs,
        });
        // Without credentials every answer is a 401: the load generator counts those as errors.
        const expected = label === 'none' ? reply.requests : 0;
        if (reply.errors !== expected) {
          throw new Error(`${label}: ${reply.errors} of ${reply.requests} unexpected, first: ${reply.firstError}`);
        }
        return { label, reply };
      };
      for (const label of ['bearer', 'cookie', 'envKey', 'none'] as const) await measure(label, WARMUP_MS);
      // Mirrored order, so drift of a noisy machine weighs on every side alike.
      const order: Label[] = ['bearer', 'cookie', 'envKey', 'none', 'none', 'envKey', 'cookie', 'bearer'];
      const phases: Phase[] = [];
      for (const label of order) {
        const phase = await measure(label, PHASE_MS);
        const s = summarize(phase.reply.latenciesMs);
        log(
          `${LABELS[label].padEnd(24)} ${fmt(phase.reply.requests / (phase.reply.elapsedMs / 1000))} req/s  ` +
            `p50 ${fmt(s.p50)} ms  p99 ${fmt(s.p99)} ms`,
        );
        phases.push(phase);
      }
      const rate = (label: Label) => {
        const mine = phases.filter((p) => p.label === label);
        return (
          mine.reduce((sum, p) => sum + p.reply.requests, 0) /
          (mine.reduce((sum, p) => sum + p.reply.elapsedMs, 0) / 1000)
        );
      };
      const lat = (label: Label) =>
        summarize(phases.filter((p) => p.label === label).flatMap((p) => p.reply.latenciesMs));

      // What authentication itself costs, without HTTP or Apollo around it.
      const auth = app.app.get(AuthService);
      const cachedUs = await authorizeCost(auth, headers.bearer);
      const sessionUs = await authorizeCost(auth, headers.cookie);
      const envUs = await authorizeCost(auth, headers.envKey);
      const fresh: string[] = [];
      for (let i = 0; i < FRESH_KEYS; i++) fresh.push(await app.createKey('VIEWER', `fresh ${i}`));
      const firstUse: number[] = [];
      const secondUse: number[] = [];
      for (const key of fresh) {
        let t = performance.now();
        await auth.principalFor(fakeRequest(app.authHeaders(key)));
        firstUse.push((performance.now() - t) * 1000);
        t = performance.now();
        await auth.principalFor(fakeRequest(app.authHeaders(key)));
        secondUse.push((performance.now() - t) * 1000);
      }
      const first = summarize(firstUse);
      const second = summarize(secondUse);
      log(
        `AuthService per request: cached key ${fmt(cachedUs, 1)} µs, session ${fmt(sessionUs, 1)} µs, ` +
          `ADMIN_API_KEY ${fmt(envUs, 1)} µs; a key's first use p50 ${fmt(first.p50, 0)} µs (database), ` +
          `its second p50 ${fmt(second.p50, 1)} µs`,
      );

      const bearerRate = rate('bearer');
      // At saturation the server's one event loop is the bottleneck: 1 / throughput is its time per request.
      const perRequestUs = 1e6 / bearerRate;
      const results: BenchResult[] = [];
      for (const label of ['bearer', 'cookie', 'envKey', 'none'] as const) {
        const s = lat(label);
        results.push(
          { metric: `{ __typename }, ${LABELS[label]}`, value: rate(label), unit: 'req/s' },
          { metric: `  latency p50 / p99, ${LABELS[label]}`, value: s.p50, unit: 'ms', note: `p99 ${fmt(s.p99)} ms` },
        );
      }
      results.push(
        { metric: 'session cookie / Bearer key throughput', value: rate('cookie') / bearerRate, unit: '×' },
        { metric: 'ADMIN_API_KEY / Bearer key throughput', value: rate('envKey') / bearerRate, unit: '×' },
        {
          metric: '401 refusal / authenticated throughput',
          value: rate('none') / bearerRate,
          unit: '×',
          note: 'refused before Apollo: what a flood without a key costs',
        },
        { metric: 'AuthService, cached key (per request)', value: cachedUs, unit: 'µs' },
        { metric: 'AuthService, session cookie (per request)', value: sessionUs, unit: 'µs' },
        { metric: 'AuthService, ADMIN_API_KEY (per request)', value: envUs, unit: 'µs' },
        {
          metric: 'AuthService, first use of a key p50 / p99',
          value: first.p50,
          unit: 'µs',
          note: `p99 ${fmt(first.p99, 0)} µs; a database lookup, then cached (second use p50 ${fmt(second.p50, 1)} µs)`,
        },
        {
          metric: 'authentication share of a { __typename } request',
          value: (cachedUs / perRequestUs) * 100,
          unit: '%',
          note: `cached key ${fmt(cachedUs, 1)} µs of ${fmt(perRequestUs, 0)} µs per request at saturation (1 / req/s)`,
        },
      );
      return results;
    } finally {
      await load.close();
      await app?.stop();
    }
  },
};
