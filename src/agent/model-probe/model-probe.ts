import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelLoadError } from '../../shared/model-load-error.js';
import { checkGgufFile } from '../gguf/gguf-check.js';
import { classifyLoadFailure } from './load-failure.classifier.js';
import type { ProbeChildMessage, ProbeRequest } from './probe-protocol.js';

export { classifyLoadFailure, type LoadFailure, type LoadFailureVerdict } from './load-failure.classifier.js';

export interface ProbeInput {
  modelPath: string;
  /** Quick-checked only: node-llama-cpp 3.22 has no API to load a multimodal projector. */
  projectorPath?: string | null;
  gpu?: 'auto' | false;
  /** Default 256: enough to prove a context can be created, small enough to be cheap. */
  contextSize?: number;
  /** Default 120000. */
  timeoutMs?: number;
}

export type ProbeResult =
  | { ok: true; loadMs: number; vramBytes?: number }
  | { ok: false; code: ModelLoadError; message: string; nativeLog: string[] };

export interface ProbeInternals {
  /** Loads even a file the quick checks would refuse (tests of the out-of-process path). */
  skipQuickChecks?: boolean;
  /** The compiled child script; default: found next to this module (see probeChildScript). */
  childScript?: string;
}

const NATIVE_LOG_LINES = 50;

/**
 * Can this node load the model? Quick header checks first (a file that fails them is never loaded), then a real
 * load + context in a child process, so a llama.cpp abort on a broken file kills the child and not the agent.
 */
export async function probeModelLoad(input: ProbeInput, internals: ProbeInternals = {}): Promise<ProbeResult> {
  if (!internals.skipQuickChecks) {
    const targets = [
      { path: input.modelPath, what: '' },
      ...(input.projectorPath ? [{ path: input.projectorPath, what: 'projector: ' }] : []),
    ];
    for (const target of targets) {
      const check = await checkGgufFile(target.path);
      if (!check.ok) return { ok: false, code: check.code, message: `${target.what}${check.reason}`, nativeLog: [] };
    }
  }
  const request: ProbeRequest = {
    modelPath: input.modelPath,
    gpu: input.gpu ?? false,
    contextSize: input.contextSize ?? 256,
  };
  return runChild(internals.childScript ?? probeChildScript(), request, input.timeoutMs ?? 120_000);
}

/**
 * The child script to fork: the sibling `probe-child.js` when running compiled; under jest (TypeScript sources) the
 * one `npm run build` put in dist/, since a child cannot run the .ts file.
 */
export function probeChildScript(moduleUrl: string = import.meta.url): string {
  const here = fileURLToPath(moduleUrl);
  const script = here.endsWith('.ts')
    ? join(resolve(dirname(here), '../../..'), 'dist/src/agent/model-probe/probe-child.js')
    : join(dirname(here), 'probe-child.js');
  if (!existsSync(script)) {
    throw new Error(`model probe child script not found at ${script}: run \`npm run build\` first`);
  }
  return script;
}

function runChild(script: string, request: ProbeRequest, timeoutMs: number): Promise<ProbeResult> {
  const env = { ...process.env };
  delete env['NODE_OPTIONS'];
  const child = fork(script, [], {
    execArgv: [],
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    serialization: 'json',
  });
  const nativeLog: string[] = [];
  const note = (line: string): void => {
    if (line.trim() === '') return;
    nativeLog.push(line.trimEnd());
    if (nativeLog.length > NATIVE_LOG_LINES) nativeLog.shift();
  };
  const collect = (stream: NodeJS.ReadableStream | null): void => {
    let rest = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      lines.forEach(note);
    });
    stream?.on('end', () => note(rest));
  };
  collect(child.stdout);
  collect(child.stderr);

  return new Promise<ProbeResult>((resolvePromise) => {
    let outcome: Extract<ProbeChildMessage, { type: 'loaded' | 'failed' }> | null = null;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('message', (message: ProbeChildMessage) => {
      if (message.type === 'log') note(message.message);
      else outcome = message;
    });
    child.on('error', (err) => note(`probe process error: ${err.message}`));
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      const log = [...nativeLog];
      const result = outcome;
      if (result?.type === 'loaded') {
        resolvePromise({
          ok: true,
          loadMs: result.loadMs,
          ...(result.vramBytes === null ? {} : { vramBytes: result.vramBytes }),
        });
        return;
      }
      if (timedOut) {
        resolvePromise({
          ok: false,
          code: ModelLoadError.UNKNOWN,
          message: `load timed out after ${timeoutMs} ms`,
          nativeLog: log,
        });
        return;
      }
      const verdict = classifyLoadFailure(
        result === null
          ? { exitCode, signal, nativeLog: log, message: 'the load process died without a result' }
          : { ...result, exitCode, signal, nativeLog: log },
      );
      resolvePromise({ ok: false, ...verdict, nativeLog: log });
    });
    child.send(request);
  });
}
