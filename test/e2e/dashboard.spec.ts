import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import type { GqlResponse } from '../support/app-harness.js';
import { launchBrowser, screenshot, watchPage, type PageWatch } from '../support/browser.js';
import { catalogEntry, writeCatalog } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { removeAgent, startAgent, waitUntil, type AgentHandle } from '../support/fleet.js';
import { MAIN_JS, startProcess, type RunningProcess } from '../support/processes.js';
import { testEnv } from '../support/test-env.js';
import { tinyGgufBuffer } from '../support/tiny-gguf.js';

const ADMIN_KEY = 'dashboard-e2e-admin-key-0123456789abcdef';

/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core) against the real control plane as a
 * process, two real agents and the local Hub serving tiny GGUFs.
 */
describe('dashboard in a browser', () => {
  // Real processes and a real browser on a shared 2-core machine: generous limits, never a timed assertion.
  jest.setTimeout(240_000);
  const env = testEnv();
  const port = String(20000 + Math.floor(Math.random() * 20000));
  const url = `http://127.0.0.1:${port}`;
  const big = tinyGgufBuffer({ seed: 11, padToBytes: 6 * 1024 * 1024 });
  const other = tinyGgufBuffer({ seed: 12, padToBytes: 6 * 1024 * 1024 });
  const small = tinyGgufBuffer({ seed: 13 });
  const third = tinyGgufBuffer({ seed: 14, padToBytes: 6 * 1024 * 1024 });
  let hub: FakeHub;
  let cp: RunningProcess;
  let cpEnv: Record<string, string>;
  let agents: AgentHandle[] = [];
  let browser: Browser;
  let page: Page;
  let watch: PageWatch;
  let shots: string;
  const nodeIds: Record<string, string> = {};

  const gql = async <T>(query: string, variables: Record<string, unknown> = {}): Promise<T> => {
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as GqlResponse<T>;
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data!;
  };
  const serverStates = (id: string) =>
    gql<{ model: unknown }>('query($id: ID!) { model(id: $id) { status nodes { nodeId lifecycleStatus progress } } }', {
      id,
    });
  const cell = (modelId: string, node: string) => page.locator(`[data-cell="${modelId}|${node}"]`);
  const cellState = (modelId: string, node: string) => cell(modelId, node).getAttribute('data-state');
  const go = async (route: string) => {
    await page.locator(`nav a[href="#/${route}"]`).click();
    await page.locator('main h1').first().waitFor();
  };

  beforeAll(async () => {
    shots = await mkdtemp(join(tmpdir(), 'llmfleet-shots-'));
    hub = await FakeHub.start();
    hub.addRepo({ id: 'fleet/big-GGUF', files: [{ path: 'big-Q4_K_M.gguf', content: big }] });
    hub.addRepo({ id: 'fleet/other-GGUF', files: [{ path: 'other-Q4_K_M.gguf', content: other }] });
    hub.addRepo({ id: 'fleet/small-GGUF', files: [{ path: 'small-Q4_K_M.gguf', content: small }] });
    hub.addRepo({ id: 'fleet/third-GGUF', files: [{ path: 'third-Q4_K_M.gguf', content: third }] });
    const catalog = await writeCatalog([
      catalogEntry({
        id: 'big-chat',
        name: 'Big Chat',
        repo: 'fleet/big-GGUF',
        recommended_filename: 'big-Q4_K_M.gguf',
        size_bytes: big.length,
        required_memory_bytes: big.length * 2,
      }),
      catalogEntry({
        id: 'small-chat',
        name: 'Small Chat',
        repo: 'fleet/small-GGUF',
        recommended_filename: 'small-Q4_K_M.gguf',
        size_bytes: small.length,
        required_memory_bytes: small.length * 2,
      }),
    ]);
    cpEnv = {
      DATABASE_URL: env.config.DATABASE_URL,
      REDIS_PREFIX: env.config.REDIS_PREFIX,
      PORT: port,
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      EMBEDDED_AGENT: 'false',
      HF_ENDPOINT: hub.url,
      SUPPORTED_MODELS_PATH: catalog,
      ADMIN_API_KEY: ADMIN_KEY,
      NODE_JOIN_TOKEN: 'dashboard-join-token-of-at-least-32-chars',
      NODE_HEARTBEAT_INTERVAL_MS: '500',
      NODE_OFFLINE_AFTER_MS: '5000',
      PROGRESS_EVENT_INTERVAL_MS: '100',
      JOB_LOCK_MS: '2000',
      // Every node fetches from the (throttled) Hub, so each cell shows its own progress advancing: with peer copy a
      // node waits for the other's copy at 0 % and then copies it in a moment (peer-copy.spec covers the dashboard then).
      PEER_COPY: 'false',
    };
    cp = startProcess(MAIN_JS, cpEnv);
    await cp.waitForOutput(/listening on/, 120_000);
    const target = { url, config: { NODE_JOIN_TOKEN: 'dashboard-join-token-of-at-least-32-chars' } };
    agents = await Promise.all([startAgent(target, 'node-a'), startAgent(target, 'node-b')]);
    await waitUntil('both agents joined', async () => {
      const { nodes } = await gql<{ nodes: Array<{ id: string; name: string }> }>('{ nodes { id name } }');
      nodes.forEach((n) => (nodeIds[n.name] = n.id));
      return nodes.length === 2;
    });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    watch = watchPage(page, url);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await Promise.all(agents.map((a) => removeAgent(a)));
    await cp?.stop('SIGKILL');
    await hub?.stop();
    await env.cleanup();
    await rm(shots, { recursive: true, force: true });
  });

  it('serves the shell and GraphiQL from its own origin, with the right caching, and leaves the API routes alone', async () => {
    const index = await fetch(`${url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const html = await index.text();
    expect(html).not.toMatch(/https?:\/\//);
    const asset = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeDefined();
    const js = await fetch(`${url}/${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await fetch(`${url}/assets/nope-123.js`)).status).toBe(404);
    expect((await fetch(`${url}/assets/..%2f..%2fpackage.json`)).status).toBe(404);

    // GraphQL clients still reach the API at /graphql; a browser gets GraphiQL there.
    expect(await gql<{ __typename: string }>('{ __typename }')).toEqual({ __typename: 'Query' });
    // GraphiQL only with a key (issue 8): without one, /graphql answers 401 before any page or schema.
    expect((await fetch(`${url}/graphql`, { headers: { accept: 'text/html' } })).status).toBe(401);
    const graphiql = await fetch(`${url}/graphql`, {
      headers: { accept: 'text/html', authorization: `Bearer ${ADMIN_KEY}` },
    });
    expect(graphiql.headers.get('cache-control')).toBe('no-cache');
    expect(await graphiql.text()).toMatch(/GraphiQL/);
    expect((await fetch(`${url}/health`)).status).toBe(200);
    expect((await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).status).toBe(200);
    // No SPA fallback swallows unknown paths (the dashboard routes by #hash).
    expect((await fetch(`${url}/no/such/page`)).status).toBe(404);

    // A browser reaches GraphiQL with the session cookie (signed in through the API here; the next test signs in
    // through the page), then signs out again.
    expect((await page.request.post(`${url}/api/session`, { data: { key: ADMIN_KEY } })).status()).toBe(200);
    await page.goto(`${url}/graphql`);
    await page.locator('.graphiql-container').waitFor({ timeout: 60_000 });
    await page.locator('.graphiql-query-editor').first().waitFor();
    await screenshot(page, 'graphiql', shots);
    expect((await page.request.delete(`${url}/api/session`)).status()).toBe(204);
  });

  it("signs in with a key on the login page (a wrong key shows the server's error) and shows the Model Hub; registers a catalog model", async () => {
    await page.goto(`${url}/`);
    const login = page.locator('#api-key');
    const nav = page.locator('nav[aria-label="Pages"]');
    await login.waitFor();
    await screenshot(page, 'login', shots);
    await login.fill('not-a-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const refusal = page.getByRole('alert');
    await refusal.waitFor();
    expect(await refusal.textContent()).toBe('This is not an llmfleet API key (keys start with "lf_")');
    expect(await nav.count()).toBe(0);
    await login.fill(ADMIN_KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await nav.waitFor();
    await page.evaluate(() => ((globalThis as unknown as { __noReload: boolean }).__noReload = true));
    await page.locator('[data-testid="connection"]', { hasText: 'Live' }).waitFor();

    const card = page.locator('[data-model-id="big-chat"]');
    await card.getByText('Available').waitFor();
    await page.getByRole('searchbox').fill('small');
    await page.locator('[data-model-id="big-chat"]').waitFor({ state: 'detached' });
    await page.getByRole('searchbox').fill('');
    await card.waitFor();
    await card.getByRole('button', { name: 'Register' }).click();
    await card.getByText('Registered', { exact: true }).waitFor();
    await screenshot(page, 'models', shots);
  });

  it('downloads to every node: progress advances and READY appears in the matrix without a reload', async () => {
    hub.throttle({ bytesPerSecond: 1024 * 1024 });
    await page.locator('[data-model-id="big-chat"]').getByRole('button', { name: 'Download to all nodes' }).click();
    await go('fleet');
    const bar = cell('big-chat', 'node-a').getByRole('progressbar');
    await bar.waitFor({ timeout: 60_000 });
    const first = Number(await bar.getAttribute('aria-valuenow'));
    await waitUntil('progress advances', async () => Number(await bar.getAttribute('aria-valuenow')) > first, 60_000);
    await waitUntil(
      'bytes and speed shown',
      async () => /\/s/.test((await cell('big-chat', 'node-a').textContent()) ?? ''),
      60_000,
    );
    await screenshot(page, 'fleet', shots);
    hub.throttle(null);
    await waitUntil(
      'READY on both nodes in the matrix',
      async () =>
        (await cellState('big-chat', 'node-a')) === 'READY' && (await cellState('big-chat', 'node-b')) === 'READY',
      120_000,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}; the server says ${JSON.stringify(await serverStates('big-chat'))}`);
    });
    expect(await page.evaluate(() => (globalThis as unknown as { __noReload?: boolean }).__noReload)).toBe(true);
  });

  it("Keys page (ADMIN): a new key's secret is shown once; a VIEWER sees no action, is refused by the server, follows changes live over its cookie; revoked, it is refused", async () => {
    await go('keys');
    await page.getByLabel('Name').fill('dash-viewer');
    await page.getByLabel('Role').selectOption('VIEWER');
    await page.getByRole('button', { name: 'Create key' }).click();
    const secretBox = page.getByTestId('new-key');
    await secretBox.waitFor();
    const secret = (await secretBox.textContent())!.trim();
    expect(secret.length).toBeGreaterThan(20);
    const row = page.locator('tbody tr', { has: page.getByRole('rowheader', { name: 'dash-viewer' }) });
    await row.getByRole('cell', { name: 'VIEWER', exact: true }).waitFor();
    expect(await row.textContent()).not.toContain(secret);
    await screenshot(page, 'keys', shots);
    await page.getByRole('button', { name: 'Done' }).click();
    await go('models');
    await go('keys');
    await row.waitFor();
    expect(await page.getByTestId('new-key').count()).toBe(0);
    expect(await page.locator('main').textContent()).not.toContain(secret);

    // The VIEWER, in a browser context of its own (its own cookie jar), signs in on the page with the new key.
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    try {
      const viewer = await context.newPage();
      const viewerWatch = watchPage(viewer, url);
      await viewer.goto(`${url}/`);
      await viewer.locator('#api-key').fill(secret);
      await viewer.getByRole('button', { name: 'Sign in' }).click();
      await viewer.locator('nav[aria-label="Pages"]').waitFor();
      expect(await viewer.locator('.role').textContent()).toBe('VIEWER');
      expect(await viewer.locator('nav a[href="#/keys"]').count()).toBe(0);
      await viewer.locator('[data-testid="connection"]', { hasText: 'Live' }).waitFor({ timeout: 60_000 });
      await viewer.evaluate(() => ((globalThis as unknown as { __noReload: boolean }).__noReload = true));

      const bigCard = viewer.locator('[data-model-id="big-chat"]');
      await bigCard.getByText(/Ready ✓ on 2 nodes/).waitFor({ timeout: 60_000 });
      const smallCard = viewer.locator('[data-model-id="small-chat"]');
      await smallCard.getByText('Available').waitFor();
      expect(await viewer.locator('main').getByRole('button').count()).toBe(0);

      // The server refuses a mutation from the VIEWER's session with a message that says what is needed.
      const refused = await viewer.evaluate(async () => {
        const res = await fetch('graphql', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: 'mutation { registerModel(modelId: "small-chat") { id } }' }),
        });
        return ((await res.json()) as { errors?: Array<{ message: string }> }).errors?.[0]?.message;
      });
      expect(refused).toMatch(/needs an OPERATOR key or above; "dash-viewer" is VIEWER/);

      // A change made elsewhere reaches the VIEWER's page over the WebSocket its session cookie opened.
      await gql('mutation { registerModel(modelId: "small-chat") { id } }');
      await smallCard.getByText('Registered', { exact: true }).waitFor({ timeout: 60_000 });

      await viewer.locator('nav a[href="#/fleet"]').click();
      const readyCell = viewer.locator('[data-cell="big-chat|node-a"]');
      await readyCell.waitFor({ timeout: 60_000 });
      expect(await viewer.locator('[role=rowheader]', { hasText: 'Big Chat' }).textContent()).toMatch(/2 ready/);
      await readyCell.click();
      await viewer.getByRole('region', { name: 'Selected cell' }).waitFor();
      expect(
        await viewer
          .locator('main')
          .getByRole('button', {
            name: /^(Download|Resume download|Cancel download|Verify|Repair|Delete from every node|Send to \d+ lacking)$/,
          })
          .count(),
      ).toBe(0);
      expect(await viewer.evaluate(() => (globalThis as unknown as { __noReload?: boolean }).__noReload)).toBe(true);
      expect(viewerWatch.foreignRequests).toEqual([]);
      expect(viewerWatch.consoleErrors).toEqual([]);

      // Revoked by the ADMIN: the key no longer signs in.
      await page.getByRole('button', { name: 'Revoke dash-viewer' }).click();
      await row.getByRole('cell', { name: 'revoked', exact: true }).waitFor({ timeout: 60_000 });
      const fresh = await browser.newContext();
      try {
        const again = await fresh.newPage();
        await again.goto(`${url}/`);
        await again.locator('#api-key').fill(secret);
        await again.getByRole('button', { name: 'Sign in' }).click();
        const alert = again.getByRole('alert');
        await alert.waitFor();
        expect(await alert.textContent()).toBe('API key "dash-viewer" was revoked');
      } finally {
        await fresh.close();
      }
    } finally {
      await context.close();
    }
  });

  it('cancels a download from the matrix (CANCELLED shown as a state), then resumes it to READY', async () => {
    await gql('mutation { registerHfModel(url: "fleet/third-GGUF") { id } }');
    hub.throttle({ bytesPerSecond: 256 * 1024 });
    await gql(
      'mutation($n: [ID!]) { downloadModel(modelId: "hf/fleet/third-GGUF", nodeIds: $n) { lifecycleStatus } }',
      {
        n: [nodeIds['node-a']],
      },
    );
    await go('fleet');
    const target = cell('hf/fleet/third-GGUF', 'node-a');
    await waitUntil(
      'DOWNLOADING in the matrix',
      async () => (await target.getAttribute('data-state')) === 'DOWNLOADING',
      60_000,
    );
    await waitUntil(
      'some bytes in',
      async () => Number(await target.getByRole('progressbar').getAttribute('aria-valuenow')) > 0,
      60_000,
    );
    await target.click();
    const panel = page.getByRole('region', { name: 'Selected cell' });
    await panel.getByRole('button', { name: 'Cancel download' }).click();
    await waitUntil(
      'CANCELLED in the matrix',
      async () => (await target.getAttribute('data-state')) === 'CANCELLED',
      60_000,
    );
    expect(await target.getAttribute('aria-label')).toMatch(/CANCELLED/);
    await panel.getByText('CANCELLED').waitFor();
    expect(await target.locator('.error').count()).toBe(0);
    const kept = Number(await target.getByRole('progressbar').getAttribute('aria-valuenow'));

    hub.throttle(null);
    await panel.getByRole('button', { name: 'Resume download' }).click();
    await waitUntil(
      'READY after resuming',
      async () => (await target.getAttribute('data-state')) === 'READY',
      120_000,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}; the server says ${JSON.stringify(await serverStates('hf/fleet/third-GGUF'))}`);
    });
    expect(kept).toBeGreaterThan(0);
    await panel.getByRole('button', { name: 'Close' }).click();
  });

  it('shows a repair live on the Repairs page', async () => {
    await go('repairs');
    await page.getByText('No repair yet.').waitFor();
    await gql('mutation($m: ID!, $n: ID!) { repairModel(modelId: $m, nodeId: $n) { id } }', {
      m: 'big-chat',
      n: nodeIds['node-b'],
    });
    const row = page.locator('[data-testid="repairs"] tbody tr').first();
    await row.getByText('MANUAL').waitFor({ timeout: 60_000 });
    await row.getByText('SUCCESS').waitFor({ timeout: 120_000 });
    await screenshot(page, 'repairs', shots);
  });

  it('says it is reconnecting while the control plane restarts mid-download, then shows the true state', async () => {
    await gql('mutation { registerHfModel(url: "fleet/other-GGUF") { id } }');
    hub.throttle({ bytesPerSecond: 1024 * 1024 });
    await gql(
      'mutation($n: [ID!]) { downloadModel(modelId: "hf/fleet/other-GGUF", nodeIds: $n) { lifecycleStatus } }',
      {
        n: [nodeIds['node-a']],
      },
    );
    await go('fleet');
    await waitUntil(
      'DOWNLOADING in the matrix',
      async () => (await cellState('hf/fleet/other-GGUF', 'node-a')) === 'DOWNLOADING',
      60_000,
    );

    await cp.stop('SIGKILL');
    await page.locator('[data-testid="connection"]', { hasText: 'Reconnecting' }).waitFor({ timeout: 60_000 });
    await screenshot(page, 'reconnecting', shots);
    hub.throttle(null);
    cp = startProcess(MAIN_JS, cpEnv);
    await cp.waitForOutput(/listening on/, 120_000);
    await page.locator('[data-testid="connection"]', { hasText: 'Live' }).waitFor({ timeout: 60_000 });
    await waitUntil(
      'READY after the restart',
      async () => (await cellState('hf/fleet/other-GGUF', 'node-a')) === 'READY',
      120_000,
    );
    expect(await cellState('hf/fleet/other-GGUF', 'node-b')).toBe('NONE');
    expect(await page.evaluate(() => (globalThis as unknown as { __noReload?: boolean }).__noReload)).toBe(true);
  });

  it('shows the nodes with gauges and a live history chart, the Hub browser and the job links', async () => {
    await go('nodes');
    for (const name of ['node-a', 'node-b']) {
      const card = page.locator(`[data-node="${name}"]`);
      await card.getByTestId('node-status').getByText('online').waitFor({ timeout: 60_000 });
      await card.locator('.chart canvas').waitFor();
    }
    await screenshot(page, 'nodes', shots);

    await go('hub');
    await page.getByRole('rowheader', { name: 'fleet/big-GGUF' }).waitFor({ timeout: 60_000 });
    await page.getByRole('textbox', { name: /Register from URL/ }).fill('fleet/does-not-exist');
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/does-not-exist/);
    await screenshot(page, 'hugging-face', shots);

    await go('jobs');
    expect(await page.getByRole('link', { name: 'All queues in Bull Board' }).getAttribute('href')).toBe(
      'admin/queues',
    );
    await screenshot(page, 'jobs', shots);
  });

  it('sent no request to another origin and logged no console error', () => {
    if (watch.consoleErrors.length) console.log(watch.log.join('\n'));
    expect(watch.foreignRequests).toEqual([]);
    expect(watch.consoleErrors).toEqual([]);
  });
});
