import type { Command } from 'commander';
import { read } from 'read';
import { FleetClient, errorFromGraphql } from '../client.js';
import { configPath, DEFAULT_URL, normalizeUrl, readConfig, removeConfig, writeConfig } from '../config.js';
import { CliError, ExitCode, usageError } from '../errors.js';
import { out } from '../output.js';

interface Principal {
  keyId: string | null;
  name: string;
  role: string;
}

/** The key from a hidden prompt on a terminal, or the whole of stdin when piped (`echo $KEY | llmfleet login`). */
async function readKey(): Promise<string> {
  let key: string;
  if (process.stdin.isTTY) {
    key = await read({ prompt: 'API key: ', silent: true, replace: '', output: process.stderr }).catch(() => {
      throw new CliError('login cancelled', ExitCode.INTERRUPTED);
    });
  } else {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    key = Buffer.concat(chunks).toString('utf8');
  }
  key = key.trim();
  if (!key) throw usageError('no API key given: type it at the prompt, or pipe it: echo "$KEY" | llmfleet login');
  if (/\s/.test(key)) throw usageError('an API key has no spaces or line breaks: give the key alone');
  return key;
}

/** Asks the server who the key is; null when the server predates API keys (it has no `me`). */
async function whoAmI(client: FleetClient): Promise<Principal | null> {
  const res = await client.raw<{ me: Principal }>('{ me { keyId name role } }');
  const first = res.errors?.[0];
  if (first?.extensions?.code === 'GRAPHQL_VALIDATION_FAILED' && /"me"/.test(first.message)) {
    await client.request('{ __typename }');
    return null;
  }
  // The key being checked is the one refused: the server's reason alone (not "run llmfleet login").
  if (first?.extensions?.code === 'UNAUTHENTICATED') throw new CliError(first.message, ExitCode.AUTH);
  if (first) throw errorFromGraphql(first);
  return res.data!.me;
}

export function registerLogin(program: Command): void {
  program
    .command('login')
    .description('Store the control plane URL and an API key (checked first) in your config directory')
    .option('--url <url>', `control plane URL (default: LLMFLEET_URL, the stored one, or ${DEFAULT_URL})`)
    .addHelpText(
      'after',
      `
The key is asked without echo on a terminal, or read from stdin when piped. The config file is readable by you only.

Examples:
  $ llmfleet login --url http://cp.example:3000
  $ echo "$LLMFLEET_KEY" | llmfleet login --url http://cp.example:3000`,
    )
    .action(async (opts: { url?: string }) => {
      const stored = await readConfig();
      const url = normalizeUrl(opts.url ?? process.env.LLMFLEET_URL ?? stored?.url ?? DEFAULT_URL);
      const apiKey = await readKey();
      const client = new FleetClient({ url, apiKey });
      const me = await whoAmI(client);
      await writeConfig({ url, apiKey });
      out(
        me
          ? `Logged in to ${url} as ${me.name} (${me.role}); saved in ${configPath()}`
          : `Logged in to ${url} (this server does not check API keys); saved in ${configPath()}`,
      );
    });

  program
    .command('logout')
    .description('Forget the stored URL and API key')
    .addHelpText('after', '\nExample:\n  $ llmfleet logout')
    .action(async () => {
      out((await removeConfig()) ? `Logged out; removed ${configPath()}` : 'Not logged in; nothing to remove');
    });
}
