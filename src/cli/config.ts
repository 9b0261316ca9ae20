import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError, ExitCode } from './errors.js';

export const DEFAULT_URL = 'http://localhost:3000';

export interface StoredConfig {
  url: string;
  apiKey: string;
}

/** Where the control plane is and the key to use: environment first, then the config file. */
export interface Connection {
  url: string;
  apiKey: string | null;
}

/** `$XDG_CONFIG_HOME/llmfleet/config.json`, else `~/.config/llmfleet/config.json`. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME?.trim() ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(base, 'llmfleet', 'config.json');
}

export async function readConfig(path = configPath()): Promise<StoredConfig | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`, ExitCode.FAILED);
  }
  try {
    const parsed = JSON.parse(text) as Partial<StoredConfig>;
    if (typeof parsed.url !== 'string' || typeof parsed.apiKey !== 'string') throw new Error('url or apiKey missing');
    return { url: parsed.url, apiKey: parsed.apiKey };
  } catch (err) {
    throw new CliError(
      `${path} is not a valid llmfleet config (${(err as Error).message}): run llmfleet login again`,
      ExitCode.USAGE,
    );
  }
}

/** Written to a temporary file then renamed, owner-only from the start: a key is never readable by others. */
export async function writeConfig(config: StoredConfig, path = configPath()): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

export async function removeConfig(path = configPath()): Promise<boolean> {
  try {
    await rm(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

export function normalizeUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError(`invalid URL "${raw}": give one like http://localhost:3000`, ExitCode.USAGE);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new CliError(`invalid URL "${raw}": use http:// or https://`, ExitCode.USAGE);
  return url.toString().replace(/\/+$/, '');
}

export async function resolveConnection(env: NodeJS.ProcessEnv = process.env): Promise<Connection> {
  const stored = await readConfig(configPath(env));
  const url = env.LLMFLEET_URL?.trim() || stored?.url || DEFAULT_URL;
  const apiKey = env.LLMFLEET_API_KEY?.trim() || stored?.apiKey || null;
  return { url: normalizeUrl(url), apiKey };
}
