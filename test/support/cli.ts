import { spawn, type ChildProcess } from 'node:child_process';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './processes.js';

/** The built CLI, run as an operator runs it (`node dist/src/cli/main.js`, what the package's `bin` points at). */
export const CLI_JS = `${ROOT}dist/src/cli/main.js`;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunningCli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout + stderr match `pattern`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  done: Promise<CliResult>;
}

/** A CLI user: a config directory of their own and an environment without the caller's llmfleet settings. */
export class CliUser {
  /** Every finished run as a terminal would show it (`$ llmfleet …` then its output), for the README's session. */
  readonly transcript: string[] = [];

  private constructor(readonly configHome: string) {}

  static async create(): Promise<CliUser> {
    return new CliUser(await mkdtemp(join(tmpdir(), 'llmfleet-cli-')));
  }

  get configFile(): string {
    return join(this.configHome, 'llmfleet', 'config.json');
  }

  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: this.configHome, NO_COLOR: '1' };
    for (const name of ['NODE_OPTIONS', 'LLMFLEET_URL', 'LLMFLEET_API_KEY', 'FORCE_COLOR', 'CI']) delete env[name];
    return { ...env, ...extra };
  }

  start(args: string[], opts: { input?: string; env?: Record<string, string>; unsetEnv?: string[] } = {}): RunningCli {
    const env = this.env(opts.env);
    for (const name of opts.unsetEnv ?? []) delete env[name];
    const child = spawn(process.execPath, [CLI_JS, ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const listeners = new Set<() => void>();
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      listeners.forEach((l) => l());
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      listeners.forEach((l) => l());
    });
    child.stdin.end(opts.input ?? '');
    const done = new Promise<CliResult>((resolve) =>
      child.on('close', (code) => {
        listeners.forEach((l) => l());
        this.transcript.push(`$ llmfleet ${args.join(' ')}\n${stdout}${stderr}`);
        resolve({ code, stdout, stderr });
      }),
    );
    return {
      child,
      stdout: () => stdout,
      stderr: () => stderr,
      done,
      waitForOutput(pattern, timeoutMs = 240_000) {
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => {
            listeners.delete(check);
            reject(new Error(`Timed out waiting for ${String(pattern)}; output:\n${stdout}\n${stderr}`));
          }, timeoutMs);
          const check = () => {
            if (pattern.test(stdout + stderr)) {
              clearTimeout(timer);
              listeners.delete(check);
              resolve();
            } else if (child.exitCode !== null) {
              clearTimeout(timer);
              listeners.delete(check);
              reject(new Error(`CLI exited (${child.exitCode}) before ${String(pattern)}:\n${stdout}\n${stderr}`));
            }
          };
          listeners.add(check);
          check();
        });
      },
    };
  }

  run(
    args: string[],
    opts: { input?: string; env?: Record<string, string>; unsetEnv?: string[] } = {},
  ): Promise<CliResult> {
    return this.start(args, opts).done;
  }

  /**
   * Appends the transcript to `LLMFLEET_CLI_TRANSCRIPT` when set (how the README's terminal session is made); appended,
   * so several users in one run each leave their session.
   */
  async cleanup(): Promise<void> {
    if (process.env.LLMFLEET_CLI_TRANSCRIPT && this.transcript.length)
      await appendFile(process.env.LLMFLEET_CLI_TRANSCRIPT, `${this.transcript.join('\n')}\n\n`);
    await rm(this.configHome, { recursive: true, force: true });
  }
}

/**
 * Runs `command` under a pseudo-terminal (util-linux `script`), so the CLI sees a TTY as in an operator's shell.
 * `answer.text` is typed once the output matches `answer.after` (a prompt), as a person would.
 */
export function runInTerminal(
  command: string[],
  env: NodeJS.ProcessEnv,
  answer?: { after: RegExp; text: string },
): Promise<CliResult> {
  const quoted = command.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qefc', quoted, '/dev/null'], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let answered = !answer;
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
    if (!answered && answer!.after.test(stdout)) {
      answered = true;
      child.stdin.write(answer!.text);
    }
  });
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}
