import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import type { Command } from 'commander';
import { errorFromGraphql } from '../../src/cli/client.js';
import { configPath, readConfig, resolveConnection, writeConfig } from '../../src/cli/config.js';
import { ExitCode } from '../../src/cli/errors.js';
import { formatBytes, formatDuration } from '../../src/cli/output.js';
import { buildProgram } from '../../src/cli/program.js';
import { closestMatch, notFoundMessage } from '../../src/cli/suggest.js';

function leaves(command: Command, path: string[] = []): Array<{ path: string[]; command: Command }> {
  if (!command.commands.length) return [{ path, command }];
  return command.commands.flatMap((c) => (c.name() === 'help' ? [] : leaves(c, [...path, c.name()])));
}

function helpOf(command: Command): string {
  let text = '';
  command.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
  command.outputHelp();
  return text;
}

describe('llmfleet CLI: help', () => {
  const commands = leaves(buildProgram());

  it('has every command of issue 11', () => {
    expect(commands.map((c) => c.path.join(' ')).sort()).toEqual(
      [
        'join-token',
        'keys create',
        'keys list',
        'keys revoke',
        'login',
        'logout',
        'models add',
        'models cancel',
        'models delete',
        'models download',
        'models list',
        'models rm',
        'models show',
        'nodes list',
        'nodes show',
        'repair',
        'repairs list',
        'verify',
        'watch',
      ].sort(),
    );
  });

  it.each(commands.map((c) => [c.path.join(' '), c.command] as const))(
    '%s --help shows an example and the exit codes',
    (_name, command) => {
      const help = helpOf(command);
      expect(help).toMatch(/Examples?:\n {2}\$ llmfleet /);
      expect(help).toContain('Exit codes: 0 ok, 1 failed, 2 usage, 3 not found, 4 auth, 5 unreachable');
    },
  );

  it('every listing takes --json', () => {
    const listings = commands.filter((c) => ['list', 'show'].includes(c.command.name()));
    for (const { command } of listings) expect(command.options.map((o) => o.long)).toContain('--json');
  });
});

describe('llmfleet CLI: did you mean', () => {
  const ids = ['hf/fleet/tiny-GGUF', 'hf/fleet/other-GGUF', 'qwen2.5-7b-instruct', 'llama-3.1-8b'];

  it('suggests by edit distance, by substring, and case-insensitively', () => {
    expect(closestMatch('hf/fleet/tiny-GUF', ids)).toBe('hf/fleet/tiny-GGUF');
    expect(closestMatch('qwen2.5-7b-instrcut', ids)).toBe('qwen2.5-7b-instruct');
    expect(closestMatch('tiny', ids)).toBe('hf/fleet/tiny-GGUF');
    expect(closestMatch('LLAMA-3.1-8B', ids)).toBe('llama-3.1-8b');
  });

  it('suggests nothing when nothing is close', () => {
    expect(closestMatch('mistral-large', ids)).toBeUndefined();
    expect(closestMatch('', ids)).toBeUndefined();
    expect(notFoundMessage('model', 'mistral-large', ids, 'see llmfleet models list')).toBe(
      'model "mistral-large" not found: see llmfleet models list',
    );
    expect(notFoundMessage('model', 'llama-3.1-7b', ids)).toBe(
      'model "llama-3.1-7b" not found — did you mean "llama-3.1-8b"?',
    );
  });
});

describe('llmfleet CLI: config', () => {
  it('lives under XDG_CONFIG_HOME, else ~/.config', () => {
    expect(configPath({ XDG_CONFIG_HOME: '/x/conf' })).toBe('/x/conf/llmfleet/config.json');
    expect(configPath({ HOME: '/home/u' })).toMatch(/\/\.config\/llmfleet\/config\.json$/);
  });

  it('is written owner-only and read back; the environment overrides it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'llmfleet-cli-unit-'));
    try {
      const path = configPath({ XDG_CONFIG_HOME: dir });
      await writeConfig({ url: 'http://cp:3000', apiKey: 'k1' }, path);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect((await stat(join(dir, 'llmfleet'))).mode & 0o077).toBe(0);
      expect(await readConfig(path)).toEqual({ url: 'http://cp:3000', apiKey: 'k1' });
      expect(await resolveConnection({ XDG_CONFIG_HOME: dir })).toEqual({ url: 'http://cp:3000', apiKey: 'k1' });
      expect(
        await resolveConnection({ XDG_CONFIG_HOME: dir, LLMFLEET_URL: 'http://other:4000/', LLMFLEET_API_KEY: 'k2' }),
      ).toEqual({ url: 'http://other:4000', apiKey: 'k2' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a damaged config file says to log in again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'llmfleet-cli-unit-'));
    try {
      const path = configPath({ XDG_CONFIG_HOME: dir });
      await writeConfig({ url: 'http://cp:3000', apiKey: 'k1' }, path);
      await import('node:fs/promises').then((fs) => fs.writeFile(path, '{"url": 1'));
      await expect(readConfig(path)).rejects.toMatchObject({ exitCode: ExitCode.USAGE });
      await expect(readConfig(path)).rejects.toThrow(/run llmfleet login again/);
      expect(await readFile(path, 'utf8')).toBe('{"url": 1');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('llmfleet CLI: errors and formats', () => {
  it('maps GraphQL error codes to exit codes, keeping the server message', () => {
    const cases: Array<[string | undefined, ExitCode]> = [
      ['UNAUTHENTICATED', ExitCode.AUTH],
      ['FORBIDDEN', ExitCode.AUTH],
      ['NOT_FOUND', ExitCode.NOT_FOUND],
      ['BAD_USER_INPUT', ExitCode.USAGE],
      ['CONFLICT', ExitCode.FAILED],
      ['INTERNAL_SERVER_ERROR', ExitCode.SERVER],
      [undefined, ExitCode.SERVER],
    ];
    for (const [code, exit] of cases) {
      const err = errorFromGraphql({ message: 'the server says', extensions: { code } });
      expect({ code, exit: err.exitCode }).toEqual({ code, exit });
      expect(err.message).toContain('the server says');
    }
    expect(errorFromGraphql({ message: 'x', extensions: { code: 'UNAUTHENTICATED' } }).message).toBe(
      'x: run llmfleet login',
    );
    // A gated Hub repository is not the CLI's key lacking a role.
    expect(errorFromGraphql({ message: 'gated', extensions: { code: 'FORBIDDEN', reason: 'GATED' } }).exitCode).toBe(
      ExitCode.FAILED,
    );
    expect(
      errorFromGraphql({ message: 'role', extensions: { code: 'FORBIDDEN', reason: 'ROLE_TOO_LOW' } }).message,
    ).toBe('role');
    expect(errorFromGraphql({ message: 'no', extensions: { code: 'FORBIDDEN' } }).message).toBe(
      'no: this needs a key with a higher role',
    );
  });

  it('formats bytes and durations for people', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(6 * 1024 * 1024)).toBe('6.0 MiB');
    expect(formatBytes(4.5 * 1024 ** 3)).toBe('4.5 GiB');
    expect(formatDuration(42)).toBe('42s');
    expect(formatDuration(125)).toBe('2m05s');
    expect(formatDuration(3 * 3600 + 60)).toBe('3h01m');
    expect(formatDuration(null)).toBe('-');
  });
});
