import { stat, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { AppHarness } from '../support/app-harness.js';
import { CLI_JS, CliUser, runInTerminal } from '../support/cli.js';
import { writeCatalog, catalogEntry } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { removeAgent, startAgent, waitUntil, type AgentHandle } from '../support/fleet.js';
import { tinyGgufBuffer } from '../support/tiny-gguf.js';

// Each CLI run is a fresh Node process: on a busy shared machine a test of several runs takes minutes, not seconds.
jest.setTimeout(300_000);

const EXIT = { OK: 0, FAILED: 1, USAGE: 2, NOT_FOUND: 3, AUTH: 4, UNREACHABLE: 5, INTERRUPTED: 130 };

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** The `llmfleet` CLI as a real process against the app, a local Hub and a real agent. */
describe('llmfleet CLI', () => {
  let hub: FakeHub;
  let app: AppHarness;
  let agent: AgentHandle;
  let user: CliUser;
  // The harness's admin key (ADMIN_API_KEY): what an operator would log in with.
  let key: string;

  beforeAll(async () => {
    hub = await FakeHub.start();
    hub.addRepo({ id: 'fleet/tiny-GGUF', files: [{ path: 'tiny-Q4_K_M.gguf', content: tinyGgufBuffer({ seed: 1 }) }] });
    hub.addRepo({
      id: 'fleet/other-GGUF',
      files: [{ path: 'other-Q4_K_M.gguf', content: tinyGgufBuffer({ seed: 2 }) }],
    });
    hub.addRepo({
      id: 'fleet/big-GGUF',
      files: [{ path: 'big-Q4_K_M.gguf', content: tinyGgufBuffer({ seed: 3, padToBytes: 6 * 1024 * 1024 }) }],
    });
    hub.addRepo({
      id: 'fleet/big2-GGUF',
      files: [{ path: 'big2-Q4_K_M.gguf', content: tinyGgufBuffer({ seed: 5, padToBytes: 6 * 1024 * 1024 }) }],
    });
    hub.addRepo({
      id: 'fleet/big3-GGUF',
      files: [{ path: 'big3-Q4_K_M.gguf', content: tinyGgufBuffer({ seed: 6, padToBytes: 6 * 1024 * 1024 }) }],
    });
    hub.addRepo({
      id: 'fleet/rotten-GGUF',
      files: [{ path: 'rotten-Q4_K_M.gguf', content: tinyGgufBuffer({ seed: 4 }) }],
    });
    app = await AppHarness.start({
      HF_ENDPOINT: hub.url,
      SUPPORTED_MODELS_PATH: await writeCatalog([
        catalogEntry({ id: 'tiny-chat', repo: 'fleet/tiny-GGUF', recommended_filename: 'tiny-Q4_K_M.gguf' }),
      ]),
      NODE_HEARTBEAT_INTERVAL_MS: '300',
      PROGRESS_EVENT_INTERVAL_MS: '100',
      DOWNLOAD_BACKOFF_MS: '200',
      DOWNLOAD_ATTEMPTS: '2',
    });
    key = app.adminKey;
    agent = await startAgent(app, 'node-a');
    await waitUntil('the agent joined', async () => {
      const { nodes } = await app.data<{ nodes: unknown[] }>('{ nodes(status: ONLINE) { id } }');
      return nodes.length === 1;
    });
    user = await CliUser.create();
  });

  afterAll(async () => {
    hub?.throttle(null);
    await (agent && removeAgent(agent));
    await app?.stop();
    await hub?.stop();
    await user?.cleanup();
  });

  describe('before login', () => {
    it('documents the exit codes in --help; subcommands show an example (every one: test/unit/cli.spec.ts)', async () => {
      const top = await user.run(['--help']);
      expect(top.code).toBe(EXIT.OK);
      expect(top.stdout).toMatch(
        /Exit codes:[\s\S]*2 +usage error[\s\S]*3 +not found[\s\S]*4 +authentication[\s\S]*5 +control plane unreachable/,
      );
      const download = await user.run(['models', 'download', '--help']);
      expect(download.code).toBe(EXIT.OK);
      expect(download.stdout).toContain('$ llmfleet models download hf/Qwen/Qwen2.5-0.5B-Instruct-GGUF --wait');
    });

    it('says how to log in when no key is known (auth exit code)', async () => {
      const res = await user.run(['models', 'list'], { env: { LLMFLEET_URL: app.url } });
      expect(res.code).toBe(EXIT.AUTH);
      expect(res.stderr.trim()).toBe('llmfleet: not logged in: run llmfleet login (or set LLMFLEET_API_KEY)');
    });

    it('fails with the unreachable exit code when nothing listens at the URL', async () => {
      const url = `http://127.0.0.1:${await closedPort()}`;
      const res = await user.run(['models', 'list'], { env: { LLMFLEET_URL: url, LLMFLEET_API_KEY: key } });
      expect(res.code).toBe(EXIT.UNREACHABLE);
      expect(res.stderr).toContain(`llmfleet: cannot reach the control plane at ${url} (ECONNREFUSED)`);
      const login = await user.run(['login', '--url', url], { input: `${key}\n` });
      expect(login.code).toBe(EXIT.UNREACHABLE);
      await expect(stat(user.configFile)).rejects.toThrow(/ENOENT/);
    });

    it("refuses a wrong key at login: the auth exit code, the server's reason on one line, nothing stored", async () => {
      const res = await user.run(['login', '--url', app.url], { input: 'not-a-valid-key-0123456789abcdef\n' });
      expect(res.code).toBe(EXIT.AUTH);
      expect(res.stdout).toBe('');
      expect(res.stderr).toBe('llmfleet: This is not an llmfleet API key (keys start with "lf_")\n');
      await expect(stat(user.configFile)).rejects.toThrow(/ENOENT/);
    });

    it('rejects bad usage with the usage exit code and a message naming what was wrong', async () => {
      const unknown = await user.run(['modles', 'list']);
      expect(unknown.code).toBe(EXIT.USAGE);
      expect(unknown.stderr).toContain("unknown command 'modles'");
      const badStatus = await user.run(['models', 'list', '--status', 'done']);
      expect(badStatus.code).toBe(EXIT.USAGE);
      expect(badStatus.stderr).toContain(
        "argument 'done' is invalid. use one of AVAILABLE, REGISTERED, DOWNLOADING, READY, ERROR",
      );
      const noKey = await user.run(['login', '--url', app.url], { input: '' });
      expect(noKey.code).toBe(EXIT.USAGE);
      expect(noKey.stderr).toContain('no API key given');
      const badUrl = await user.run(['login', '--url', 'ftp://x'], { input: key });
      expect(badUrl.code).toBe(EXIT.USAGE);
      expect(badUrl.stderr).toContain('invalid URL "ftp://x": use http:// or https://');
    });
  });

  describe('logged in', () => {
    beforeAll(async () => {
      const res = await user.run(['login', '--url', app.url], { input: `${key}\n` });
      expect(res.stderr).toBe('');
      expect(res.code).toBe(EXIT.OK);
      expect(res.stdout).toContain(`Logged in to ${app.url}`);
    });

    it('stores the URL and key in the user config dir, readable by the owner only', async () => {
      const info = await stat(user.configFile);
      expect(info.mode & 0o777).toBe(0o600);
      expect(JSON.parse(await readFile(user.configFile, 'utf8'))).toEqual({ url: app.url, apiKey: key });
    });

    it('on a terminal, asks for the key without echoing it', async () => {
      const res = await runInTerminal([process.execPath, CLI_JS, 'login', '--url', app.url], user.env(), {
        after: /API key: /,
        text: `${key}\r`,
      });
      expect(res.code).toBe(EXIT.OK);
      expect(res.stdout).toContain('API key: ');
      expect(res.stdout).toContain(`Logged in to ${app.url}`);
      expect(res.stdout).not.toContain(key);
    });

    it('adds a model from org/repo and prints what registration chose', async () => {
      const res = await user.run(['models', 'add', 'fleet/tiny-GGUF']);
      expect(res.code).toBe(EXIT.OK);
      expect(res.stdout).toContain('Registered hf/fleet/tiny-GGUF (REGISTERED)');
      expect(res.stdout).toContain('model tiny-Q4_K_M.gguf');
      expect(res.stdout).toContain('Next: llmfleet models download hf/fleet/tiny-GGUF --wait');
      for (const repo of [
        'fleet/other-GGUF',
        'fleet/big-GGUF',
        'fleet/big2-GGUF',
        'https://huggingface.co/fleet/rotten-GGUF',
      ]) {
        expect((await user.run(['models', 'add', repo])).code).toBe(EXIT.OK);
      }
    });

    it('suggests the closest id for a mistyped model or node', async () => {
      const model = await user.run(['models', 'show', 'hf/fleet/tiny-GUF']);
      expect(model.code).toBe(EXIT.NOT_FOUND);
      expect(model.stderr.trim()).toBe(
        'llmfleet: model "hf/fleet/tiny-GUF" not found — did you mean "hf/fleet/tiny-GGUF"?',
      );
      const catalog = await user.run(['models', 'add', 'tiny-caht']);
      expect(catalog.code).toBe(EXIT.NOT_FOUND);
      expect(catalog.stderr).toContain('model "tiny-caht" not found — did you mean "tiny-chat"?');
      const node = await user.run(['models', 'download', 'hf/fleet/tiny-GGUF', '--node', 'node-b']);
      expect(node.code).toBe(EXIT.NOT_FOUND);
      expect(node.stderr.trim()).toBe('llmfleet: node "node-b" not found — did you mean "node-a"?');
      const nothingClose = await user.run(['models', 'show', 'zzzzzzzzzzzzzzzzzzzz']);
      expect(nothingClose.stderr.trim()).toBe(
        'llmfleet: model "zzzzzzzzzzzzzzzzzzzz" not found: see llmfleet models list',
      );
    });

    it('lists models as a table and as JSON with stable field names', async () => {
      const table = await user.run(['models', 'list', '--search', 'fleet/']);
      expect(table.code).toBe(EXIT.OK);
      expect(table.stdout.split('\n')[0]).toMatch(/^ID +STATUS +READY +SIZE +MEMORY +HUB DOWNLOADS$/);
      expect(table.stdout).toMatch(/hf\/fleet\/tiny-GGUF +REGISTERED +0 /);
      const json = await user.run(['models', 'list', '--status', 'registered', '--json']);
      expect(json.code).toBe(EXIT.OK);
      const rows = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
      expect(rows.map((r) => r.id).sort()).toEqual([
        'hf/fleet/big-GGUF',
        'hf/fleet/big2-GGUF',
        'hf/fleet/other-GGUF',
        'hf/fleet/rotten-GGUF',
        'hf/fleet/tiny-GGUF',
      ]);
      expect(Object.keys(rows[0]!)).toEqual([
        'id',
        'name',
        'status',
        'source',
        'repo',
        'quantization',
        'readyNodes',
        'downloadProgress',
        'sizeBytes',
        'requiredMemoryBytes',
        'hubDownloads',
        'errorMessage',
      ]);
    });

    it('keys: create prints the secret once; list never shows it; a VIEWER key is refused on models download; revoked, it is refused', async () => {
      const created = await user.run(['keys', 'create', 'cli-viewer', '--role', 'VIEWER']);
      expect(created.code).toBe(EXIT.OK);
      const secret = created.stdout.trim();
      expect(secret).toMatch(/^\S{20,}$/);
      const id = /^Created key (\S+) "cli-viewer" \(VIEWER\); the secret above is shown only once\.$/m.exec(
        created.stderr,
      )?.[1];
      expect(id).toBeDefined();

      const table = await user.run(['keys', 'list']);
      expect(table.code).toBe(EXIT.OK);
      expect(table.stdout).toMatch(new RegExp(`${id} +cli-viewer +VIEWER +lf_\\S+ +\\S+ ago +- +- +-`));
      const json = await user.run(['keys', 'list', '--json']);
      expect(JSON.parse(json.stdout)).toContainEqual(
        expect.objectContaining({ id, name: 'cli-viewer', role: 'VIEWER', revokedAt: null }),
      );
      for (const listing of [table.stdout, json.stdout]) expect(listing).not.toContain(secret);

      const asViewer = { env: { LLMFLEET_API_KEY: secret } };
      expect((await user.run(['models', 'list'], asViewer)).code).toBe(EXIT.OK);
      const refused = await user.run(['models', 'download', 'hf/fleet/tiny-GGUF'], asViewer);
      expect(refused.code).toBe(EXIT.AUTH);
      expect(refused.stderr).toBe('llmfleet: This needs an OPERATOR key or above; "cli-viewer" is VIEWER\n');

      const revoked = await user.run(['keys', 'revoke', id!]);
      expect(revoked.code).toBe(EXIT.OK);
      expect(revoked.stdout.trim()).toBe(`Revoked key ${id} "cli-viewer" (VIEWER)`);
      const after = await user.run(['models', 'list'], asViewer);
      expect(after.code).toBe(EXIT.AUTH);
      expect(after.stderr).toBe('llmfleet: API key "cli-viewer" was revoked: run llmfleet login\n');
    });

    it('downloads with --wait until READY (exit 0), then shows the node state', async () => {
      const res = await user.run(['models', 'download', 'hf/fleet/tiny-GGUF', '--wait']);
      expect(res.stderr).not.toContain('llmfleet:');
      expect(res.code).toBe(EXIT.OK);
      expect(res.stdout).toMatch(/^node-a {2}READY {2}\d/m);
      // Not a terminal: plain lines, no bars or cursor movement.
      expect(res.stderr + res.stdout).not.toContain('\u001b');
      expect(res.stderr + res.stdout).not.toContain('\r');
      const show = await user.run(['models', 'show', 'hf/fleet/tiny-GGUF', '--json']);
      const model = JSON.parse(show.stdout) as {
        status: string;
        readyNodes: number;
        files: unknown[];
        nodes: Array<Record<string, unknown>>;
      };
      expect(model).toMatchObject({ status: 'READY', readyNodes: 1 });
      expect(model.files).toHaveLength(1);
      expect(model.nodes).toEqual([expect.objectContaining({ node: 'node-a', status: 'READY', errorCode: null })]);
    });

    it('exits non-zero with the reason when the Hub serves wrong bytes', async () => {
      hub.corrupt({ repo: 'fleet/rotten-GGUF', file: 'rotten-Q4_K_M.gguf' });
      const res = await user.run(['models', 'download', 'hf/fleet/rotten-GGUF', '--wait', '--node', 'node-a']);
      expect(res.code).toBe(EXIT.FAILED);
      expect(res.stdout).toMatch(/^node-a {2}ERROR {2}.*CHECKSUM_MISMATCH/m);
      expect(res.stderr).toContain(
        'llmfleet: hf/fleet/rotten-GGUF is not READY on 1 of 1 node(s) (node-a: CHECKSUM_MISMATCH): see llmfleet models show hf/fleet/rotten-GGUF',
      );
    });

    it('--wait --json prints the final per-node states', async () => {
      const res = await user.run(['models', 'download', 'hf/fleet/other-GGUF', '--wait', '--json']);
      expect(res.code).toBe(EXIT.OK);
      expect(JSON.parse(res.stdout)).toEqual([
        expect.objectContaining({ node: 'node-a', status: 'READY', errorCode: null, errorMessage: null }),
      ]);
    });

    it('Ctrl-C during --wait stops watching, not the download', async () => {
      hub.throttle({ bytesPerSecond: 1024 * 1024 });
      const watching = user.start(['models', 'download', 'hf/fleet/big-GGUF', '--wait'], {
        env: { LLMFLEET_PROGRESS_INTERVAL_MS: '500' },
      });
      // Not a terminal: periodic plain lines with bytes, speed and ETA.
      await watching.waitForOutput(
        /node-a {2}DOWNLOADING {2}\d+% {2}[\d.]+ \w+\/6\.0 MiB {2}[\d.]+ \w+\/s {2}ETA \d+s/,
      );
      watching.child.kill('SIGINT');
      const stopped = await watching.done;
      expect(stopped.code).toBe(EXIT.INTERRUPTED);
      expect(stopped.stderr).toContain(
        'stopped watching; the download goes on (llmfleet models show hf/fleet/big-GGUF)',
      );
      // No CLI runs any more; the node finishes the download on its own.
      await waitUntil(
        'big-GGUF READY without the CLI',
        async () => {
          const { model } = await app.data<{ model: { availableNodes: number } }>(
            '{ model(id: "hf/fleet/big-GGUF") { availableNodes } }',
          );
          return model.availableNodes === 1;
        },
        120_000,
      );
      hub.throttle(null);
    });

    it('draws a live progress bar per node on a terminal, then the outcome', async () => {
      hub.throttle({ bytesPerSecond: 1024 * 1024 });
      const tty = await runInTerminal(
        [process.execPath, CLI_JS, 'models', 'download', 'hf/fleet/big2-GGUF', '--wait'],
        user.env(),
      );
      hub.throttle(null);
      user.transcript.push(`$ llmfleet models download hf/fleet/big2-GGUF --wait   # on a terminal\n${tty.stdout}`);
      expect(tty.code).toBe(EXIT.OK);
      expect(tty.stdout).toMatch(/node-a \|[█░]+\| +\d+% [\d.]+ \w?i?B\/6\.0 MiB/);
      // Speed and ETA while the throttled transfer runs (6 MiB at 1 MiB/s).
      expect(tty.stdout).toMatch(/ [\d.]+ (KiB|MiB)\/s {2}ETA \d+s {2}DOWNLOADING/);
      expect(tty.stdout).toMatch(/node-a {2}READY {2}6\.0 MiB/);
    });

    it('cancels a download: the node shows CANCELLED (a state, not an error)', async () => {
      hub.throttle({ bytesPerSecond: 256 * 1024 });
      expect((await user.run(['models', 'add', 'fleet/big3-GGUF'])).code).toBe(EXIT.OK);
      const queued = await user.run(['models', 'download', 'hf/fleet/big3-GGUF', '--node', 'node-a']);
      expect(queued.code).toBe(EXIT.OK);
      await waitUntil(
        'bytes arriving on node-a',
        async () => {
          const { model } = await app.data<{ model: { nodes: Array<{ lifecycleStatus: string; bytesDone: number }> } }>(
            '{ model(id: "hf/fleet/big3-GGUF") { nodes { lifecycleStatus bytesDone } } }',
          );
          return model.nodes.some((n) => n.lifecycleStatus === 'DOWNLOADING' && n.bytesDone > 0);
        },
        60_000,
      );
      const cancel = await user.run(['models', 'cancel', 'hf/fleet/big3-GGUF', '--node', 'node-a']);
      hub.throttle(null);
      expect(cancel.stderr).toBe('');
      expect(cancel.code).toBe(EXIT.OK);
      expect(cancel.stdout).toBe('node-a  CANCELLED\n');
      const show = await user.run(['models', 'show', 'hf/fleet/big3-GGUF', '--json']);
      const { nodes } = JSON.parse(show.stdout) as { nodes: Array<Record<string, unknown>> };
      expect(nodes).toEqual([expect.objectContaining({ node: 'node-a', status: 'CANCELLED', errorCode: null })]);
    });

    it('lists and shows nodes', async () => {
      const list = await user.run(['nodes', 'list', '--json']);
      expect(list.code).toBe(EXIT.OK);
      const nodes = JSON.parse(list.stdout) as Array<{
        name: string;
        status: string;
        models: Array<{ modelId: string; status: string }>;
      }>;
      expect(nodes).toEqual([expect.objectContaining({ name: 'node-a', status: 'ONLINE' })]);
      expect(nodes[0]!.models).toContainEqual(
        expect.objectContaining({ modelId: 'hf/fleet/tiny-GGUF', status: 'READY' }),
      );
      const show = await user.run(['nodes', 'show', 'node-a']);
      expect(show.stdout).toMatch(/^node-a \(/);
      expect(show.stdout).toMatch(/status: +ONLINE, last heartbeat \d+s ago/);
      expect(show.stdout).toMatch(/hf\/fleet\/tiny-GGUF +READY +100%/);
    });

    it('honours NO_COLOR; colours only when forced or on a terminal', async () => {
      const coloured = await user.run(['nodes', 'list'], { env: { FORCE_COLOR: '1' }, unsetEnv: ['NO_COLOR'] });
      expect(coloured.stdout).toContain('\x1b[');
      const plain = await user.run(['nodes', 'list'], { env: { FORCE_COLOR: '1', NO_COLOR: '1' } });
      expect(plain.stdout).not.toContain('\x1b[');
    });

    it('refuses to delete without --yes when it cannot ask', async () => {
      const res = await user.run(['models', 'delete', 'hf/fleet/other-GGUF']);
      expect(res.code).toBe(EXIT.USAGE);
      expect(res.stderr).toContain('not asked without a terminal: add --yes');
    });

    it('verifies a copy and lists repairs', async () => {
      const verify = await user.run(['verify', 'hf/fleet/tiny-GGUF', '--node', 'node-a']);
      expect(verify.code).toBe(EXIT.OK);
      expect(verify.stdout.trim()).toBe('hf/fleet/tiny-GGUF on node-a: READY');
      const repairs = await user.run(['repairs', 'list', '--node', 'node-a', '--json']);
      expect(repairs.code).toBe(EXIT.OK);
      expect(JSON.parse(repairs.stdout)).toEqual([]);
      const noNode = await user.run(['verify', 'hf/fleet/tiny-GGUF']);
      expect(noNode.code).toBe(EXIT.USAGE);

      const repair = await user.run(['repair', 'hf/fleet/tiny-GGUF', '--node', 'node-a', '--json']);
      expect(repair.code).toBe(EXIT.OK);
      const task = JSON.parse(repair.stdout) as { id: string; node: string; trigger: string };
      expect(task).toMatchObject({ node: 'node-a', trigger: 'MANUAL' });
      const after = await user.run(['repairs', 'list', '--model', 'hf/fleet/tiny-GGUF', '--json']);
      expect((JSON.parse(after.stdout) as Array<{ id: string }>).map((r) => r.id)).toContain(task.id);
    });

    it('watch streams model events one line each until Ctrl-C', async () => {
      const watch = user.start(['watch', '--model', 'hf/fleet/other-GGUF']);
      await watch.waitForOutput(/watching; Ctrl-C to stop/);
      // The subscription may be acknowledged a moment after the socket: change the model until an event shows.
      await waitUntil(
        'an event line',
        async () => {
          expect((await user.run(['models', 'rm', 'hf/fleet/other-GGUF'])).code).toBe(EXIT.OK);
          expect((await user.run(['models', 'add', 'fleet/other-GGUF'])).code).toBe(EXIT.OK);
          return /model {2}hf\/fleet\/other-GGUF /.test(watch.stdout());
        },
        240_000,
      );
      watch.child.kill('SIGINT');
      const done = await watch.done;
      expect(done.code).toBe(EXIT.OK);
      for (const line of done.stdout.trim().split('\n'))
        expect(line).toMatch(/^\d{4}-\d\d-\d\dT\S+Z model {2}hf\/fleet\/other-GGUF (AVAILABLE|REGISTERED|READY)/);
    });

    it('deletes a model after asking on a terminal, or at once with --yes', async () => {
      // The watch test above unregistered and registered it again (its node states went with the registration): the
      // node reports its file again at its next heartbeat.
      await waitUntil('node-a holds hf/fleet/other-GGUF again', async () => {
        const { model } = await app.data<{ model: { nodes: unknown[] } | null }>(
          '{ model(id: "hf/fleet/other-GGUF") { nodes { nodeId } } }',
        );
        return model?.nodes.length === 1;
      });
      const no = await runInTerminal(
        [process.execPath, CLI_JS, 'models', 'delete', 'hf/fleet/other-GGUF'],
        user.env(),
        {
          after: /\[y\/N\] /,
          text: 'n\r',
        },
      );
      expect(no.code).toBe(EXIT.FAILED);
      expect(no.stdout).toContain("Delete hf/fleet/other-GGUF's files from 1 node(s) and unregister it? [y/N]");
      expect(no.stdout).toContain('llmfleet: nothing deleted');
      const yes = await user.run(['models', 'delete', 'hf/fleet/other-GGUF', '--yes']);
      expect(yes.code).toBe(EXIT.OK);
      expect(yes.stdout).toContain("Deleted hf/fleet/other-GGUF's files from 1 node(s) and unregistered it");
      // Not in the catalog: once unregistered, the model is gone.
      const { model } = await app.data<{ model: unknown }>('{ model(id: "hf/fleet/other-GGUF") { status } }');
      expect(model).toBeNull();
      expect((await user.run(['models', 'show', 'hf/fleet/other-GGUF'])).code).toBe(EXIT.NOT_FOUND);
    });

    it('logout forgets the key', async () => {
      const res = await user.run(['logout']);
      expect(res.code).toBe(EXIT.OK);
      await expect(stat(user.configFile)).rejects.toThrow(/ENOENT/);
      expect((await user.run(['nodes', 'list'])).code).toBe(EXIT.AUTH);
    });
  });
});

describe('llmfleet join-token', () => {
  let app: AppHarness;
  let user: CliUser;

  beforeAll(async () => {
    app = await AppHarness.start({ NODE_JOIN_TOKEN: '' });
    user = await CliUser.create();
  });

  afterAll(async () => {
    await user?.cleanup();
    await app?.stop();
  });

  it('prints the generated join token, rotates it with --rotate, and needs an ADMIN key', async () => {
    const env = { LLMFLEET_URL: app.url, LLMFLEET_API_KEY: app.adminKey };
    const shown = await user.run(['join-token'], { env });
    expect(shown.code).toBe(EXIT.OK);
    const token = shown.stdout.trim();
    expect(token).toBe((await app.data<{ joinToken: string }>('{ joinToken }')).joinToken);

    const rotated = await user.run(['join-token', '--rotate'], { env });
    expect(rotated.code).toBe(EXIT.OK);
    const next = rotated.stdout.trim();
    expect(next).not.toBe(token);
    expect((await user.run(['join-token'], { env })).stdout.trim()).toBe(next);

    const operator = await app.createKey('OPERATOR');
    const denied = await user.run(['join-token'], { env: { ...env, LLMFLEET_API_KEY: operator } });
    expect(denied.code).not.toBe(EXIT.OK);
    expect(denied.stdout).toBe('');
    expect(denied.stderr).toMatch(/ADMIN/);
  });
});
