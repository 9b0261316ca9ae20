import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_JS, startProcess, type RunningProcess } from './processes.js';

export interface AgentHandle {
  name: string;
  modelsDir: string;
  process: RunningProcess;
  restart(): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Where an agent joins: an AppHarness, or a control plane running as its own process. */
export interface ControlPlaneTarget {
  url: string;
  config: { NODE_JOIN_TOKEN?: string };
}

/** A node agent as its own process (`npm run start:agent`), joined to `app`, with a MODELS_DIR of its own. */
export async function startAgent(
  app: ControlPlaneTarget,
  name: string,
  env: Record<string, string> = {},
): Promise<AgentHandle> {
  const modelsDir = await mkdtemp(join(tmpdir(), `llmfleet-${name}-`));
  const fullEnv = {
    CONTROL_PLANE_URL: app.url,
    NODE_NAME: name,
    MODELS_DIR: modelsDir,
    AGENT_PORT: '0',
    AGENT_HOST: '127.0.0.1',
    AGENT_GPU: 'false',
    LOG_LEVEL: 'warn',
    ...(app.config.NODE_JOIN_TOKEN ? { NODE_JOIN_TOKEN: app.config.NODE_JOIN_TOKEN } : {}),
    ...env,
  };
  const handle: AgentHandle = {
    name,
    modelsDir,
    process: startProcess(AGENT_JS, fullEnv),
    async restart() {
      await handle.kill();
      handle.process = startProcess(AGENT_JS, fullEnv);
      await handle.process.waitForOutput(/listening on/);
    },
    async kill(signal = 'SIGKILL') {
      await handle.process.stop(signal);
    },
  };
  await handle.process.waitForOutput(/listening on/);
  return handle;
}

export async function removeAgent(agent: AgentHandle): Promise<void> {
  await agent.kill();
  await rm(agent.modelsDir, { recursive: true, force: true });
}

/** Polls until `probe` returns a value (not undefined/false), or fails with `what` after `timeoutMs`. */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined | false | null>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false && value !== null) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`Timed out waiting until ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
