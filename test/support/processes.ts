import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * The repository root, whether this file runs from the sources (test/support, under jest) or built
 * (dist/test/support, imported by the compiled benchmarks in dist/bench).
 */
export const ROOT = fileURLToPath(
  new URL(/\/dist\/test\/support\/[^/]+\.js$/.test(import.meta.url) ? '../../../' : '../../', import.meta.url),
);

/** The built entrypoints (`npm test` builds first): real processes, as an operator runs them. */
export const MAIN_JS = `${ROOT}dist/src/main.js`;
export const AGENT_JS = `${ROOT}dist/src/agent/main.js`;

export interface RunningProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  /** Resolves when the output matches `pattern` (or rejects on exit/timeout). */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startProcess(
  script: string,
  env: Record<string, string>,
  /** Node options for this process (e.g. `--cpu-prof`, which NODE_OPTIONS does not allow). */
  execArgv: readonly string[] = [],
): RunningProcess {
  const cleanEnv = { ...process.env };
  delete cleanEnv.NODE_OPTIONS;
  const child = spawn(process.execPath, [...execArgv, script], {
    cwd: ROOT,
    env: { ...cleanEnv, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    out += chunk.toString();
    listeners.forEach((l) => l());
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      listeners.forEach((l) => l());
      resolve(code);
    }),
  );
  return {
    child,
    output: () => out,
    exited,
    waitForOutput(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`Timed out waiting for ${String(pattern)}; output:\n${out}`));
        }, timeoutMs);
        const check = () => {
          if (pattern.test(out)) {
            clearTimeout(timer);
            listeners.delete(check);
            resolve();
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            listeners.delete(check);
            reject(
              new Error(
                `Process exited (${child.exitCode ?? child.signalCode}) before ${String(pattern)}; output:\n${out}`,
              ),
            );
          }
        };
        listeners.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
