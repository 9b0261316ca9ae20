import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AppHarness } from '../support/app-harness.js';
import { addGgufRepo, catalogEntry, writeCatalog } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { SimulatedNode } from '../support/sim-agents.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text exposition format, as a scraper reads it: `# HELP`/`# TYPE` lines, then one sample a line. */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types.set(name!, type!);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]!] = pair[2]!;
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return { samples, types };
}

describe('/metrics (Prometheus, VIEWER key)', () => {
  let hub: FakeHub;
  let app: AppHarness;
  let viewerKey: string;
  const nodes: SimulatedNode[] = [];

  beforeAll(async () => {
    hub = await FakeHub.start();
    for (const id of ['one', 'two', 'three']) addGgufRepo(hub, `test-org/${id}-GGUF`, [`${id}-Q4_K_M.gguf`]);
    const catalog = await writeCatalog(
      ['one', 'two', 'three'].map((id) =>
        catalogEntry({ id, repo: `test-org/${id}-GGUF`, recommended_filename: `${id}-Q4_K_M.gguf` }),
      ),
    );
    app = await AppHarness.start({ HF_ENDPOINT: hub.url, SUPPORTED_MODELS_PATH: catalog });
    viewerKey = await app.createKey('VIEWER');
    await app.data('mutation { a: registerModel(modelId: "one") { id } }');
    await app.data('mutation { b: registerModel(modelId: "two") { id } }');
    for (const name of ['m-a', 'm-b', 'm-c']) nodes.push(await SimulatedNode.join(app, name));
    // "one": READY on m-a, downloading on m-b and m-c (two reports each, so a rate is known); "two": nowhere yet.
    await nodes[0]!.heartbeat([nodes[0]!.state('one', 'READY', 1000, 1000)]);
    for (const node of nodes.slice(1)) await node.heartbeat([node.state('one', 'DOWNLOADING', 100, 1000)]);
    await new Promise((r) => setTimeout(r, 1100));
    for (const node of nodes.slice(1)) await node.report([node.state('one', 'DOWNLOADING', 600, 1000)]);
  });

  afterAll(async () => {
    await app?.stop();
    await hub?.stop();
  });

  const scrape = (key: string | null) => fetch(`${app.url}/metrics`, { headers: app.authHeaders(key) });

  it('refuses a scrape without a key (401) and with a bad one', async () => {
    expect((await scrape(null)).status).toBe(401);
    expect((await scrape('not-a-key')).status).toBe(401);
  });

  it('answers the fleet’s figures in the text format to a VIEWER key, matching the fleet', async () => {
    await app.data('{ models { id } }');
    const res = await scrape(viewerKey);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const { samples, types } = parseExposition(await res.text());
    const value = (name: string, labels: Record<string, string> = {}) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

    expect(value('llmfleet_nodes', { status: 'ONLINE' })).toBe(3);
    expect(value('llmfleet_nodes', { status: 'OFFLINE' })).toBe(0);
    expect(value('llmfleet_models', { status: 'READY' })).toBe(1);
    expect(value('llmfleet_models', { status: 'REGISTERED' })).toBe(1);
    expect(value('llmfleet_models', { status: 'AVAILABLE' })).toBe(1);
    expect(value('llmfleet_downloads_in_flight', { lifecycle: 'DOWNLOADING' })).toBe(2);
    expect(value('llmfleet_downloads_in_flight', { lifecycle: 'PENDING' })).toBe(0);
    // The summed smoothed rates of the two downloads, as the fleet view reports them.
    const { fleetProgress } = await app.data<{ fleetProgress: Array<{ bytesPerSecond: number }> }>(
      '{ fleetProgress(modelId: "one") { bytesPerSecond } }',
    );
    expect(fleetProgress[0]!.bytesPerSecond).toBeGreaterThan(0);
    expect(value('llmfleet_download_bytes_per_second')).toBe(fleetProgress[0]!.bytesPerSecond);
    expect(value('llmfleet_repairs', { status: 'IN_PROGRESS' })).toBe(0);
    expect(value('llmfleet_queue_jobs', { queue: 'downloads', state: 'waiting' })).toBe(0);
    expect(value('llmfleet_queue_jobs', { queue: 'repairs', state: 'active' })).toBe(0);

    expect(types.get('llmfleet_heartbeat_gap_seconds')).toBe('histogram');
    expect(value('llmfleet_heartbeat_gap_seconds_count')).toBe(3);
    expect(types.get('llmfleet_graphql_request_duration_seconds')).toBe('histogram');
    expect(value('llmfleet_graphql_request_duration_seconds_count', { operation: 'query' })).toBeGreaterThanOrEqual(1);
    expect(value('llmfleet_graphql_request_duration_seconds_count', { operation: 'mutation' })).toBeGreaterThanOrEqual(
      3,
    );
    expect(value('process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(value('nodejs_eventloop_lag_p99_seconds')).toBeDefined();

    // The admission limiter (GRAPHQL_MAX_CONCURRENT): every operation above went through it, none was refused.
    expect(types.get('llmfleet_graphql_admission_wait_seconds')).toBe('histogram');
    const answered =
      value('llmfleet_graphql_request_duration_seconds_count', { operation: 'query' })! +
      value('llmfleet_graphql_request_duration_seconds_count', { operation: 'mutation' })!;
    expect(value('llmfleet_graphql_admission_wait_seconds_count')).toBeGreaterThanOrEqual(answered);
    expect(value('llmfleet_graphql_admission_refused_total', { reason: 'QUEUE_FULL' })).toBe(0);
    expect(value('llmfleet_graphql_admission_refused_total', { reason: 'QUEUE_TIMEOUT' })).toBe(0);
    expect(value('llmfleet_graphql_operations_running')).toBe(0);
    expect(value('llmfleet_graphql_operations_waiting')).toBe(0);
  });
});

describe('/metrics: GraphQL operations refused when the replica is busy', () => {
  let app: AppHarness;

  beforeAll(async () => {
    // One operation at a time and no queue: any operation arriving while another runs is refused with 503.
    app = await AppHarness.start({ GRAPHQL_MAX_CONCURRENT: '1', GRAPHQL_MAX_QUEUED: '0' });
  });

  afterAll(async () => {
    await app?.stop();
  });

  it('counts each 503 SERVER_BUSY by reason, as many as the clients received', async () => {
    let busy = 0;
    for (let round = 0; round < 20 && busy === 0; round++) {
      const answers = await Promise.all(
        Array.from({ length: 8 }, () =>
          fetch(`${app.url}/graphql`, {
            method: 'POST',
            headers: { ...app.authHeaders(), 'content-type': 'application/json' },
            body: JSON.stringify({ query: '{ models { id status nodes { lifecycleStatus } } nodes { id } }' }),
          }),
        ),
      );
      for (const res of answers) {
        const body = (await res.json()) as { errors?: Array<{ extensions?: { code?: string; reason?: string } }> };
        if (res.status === 503) {
          expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'SERVER_BUSY', reason: 'QUEUE_FULL' });
          busy++;
        } else expect(res.status).toBe(200);
      }
    }
    expect(busy).toBeGreaterThan(0);

    const { samples } = parseExposition(
      await (await fetch(`${app.url}/metrics`, { headers: app.authHeaders() })).text(),
    );
    const refused = samples.find(
      (s) => s.name === 'llmfleet_graphql_admission_refused_total' && s.labels.reason === 'QUEUE_FULL',
    );
    expect(refused?.value).toBe(busy);
  });
});
