import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { withClient } from '../context.js';
import { notFoundError } from '../errors.js';
import { formatAge, out, printJson, printTable, err } from '../output.js';
import { KEY_ROLES, oneOf } from '../options.js';

interface ApiKeyRow {
  id: string;
  name: string;
  role: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
}

const KEY_FIELDS = 'id name role prefix createdAt lastUsedAt expiresAt revokedAt';

function futureDate(raw: string): string {
  const at = new Date(raw);
  if (Number.isNaN(at.getTime())) throw new InvalidArgumentError('use a date like 2027-01-31 or 2027-01-31T12:00:00Z.');
  if (at.getTime() <= Date.now()) throw new InvalidArgumentError('the date is in the past.');
  return at.toISOString();
}

export function registerKeys(program: Command): void {
  const keys = program
    .command('keys')
    .description('API keys (ADMIN)')
    .addHelpText('after', '\nExample:\n  $ llmfleet keys create ci-bot --role OPERATOR');

  keys
    .command('create')
    .description('Create an API key; the secret is printed once, on stdout')
    .argument('<name>', 'what the key is for')
    .requiredOption('--role <role>', KEY_ROLES.join(', '), oneOf(KEY_ROLES))
    .option('--expires <date>', 'expiry date (ISO 8601)', futureDate)
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ llmfleet keys create ci-bot --role OPERATOR --expires 2027-06-30')
    .action(async (name: string, opts: { role: string; expires?: string; json?: boolean }) =>
      withClient(async (client) => {
        const { createApiKey } = await client.request<{ createApiKey: { key: string; apiKey: ApiKeyRow } }>(
          `mutation($n: String!, $r: ApiKeyRole!, $e: DateTime) { createApiKey(name: $n, role: $r, expiresAt: $e) { key apiKey { ${KEY_FIELDS} } } }`,
          { n: name, r: opts.role, e: opts.expires ?? null },
        );
        if (opts.json) return printJson({ key: createApiKey.key, ...createApiKey.apiKey });
        // The secret alone on stdout, so `KEY=$(llmfleet keys create …)` works; the note goes to stderr.
        out(createApiKey.key);
        err(`Created key ${createApiKey.apiKey.id} "${name}" (${opts.role}); the secret above is shown only once.`);
      }),
    );

  keys
    .command('list')
    .alias('ls')
    .description('Every API key (never the secrets)')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nJSON fields: id, name, role, prefix, createdAt, lastUsedAt, expiresAt, revokedAt.\n\nExample:\n  $ llmfleet keys list',
    )
    .action(async (opts: { json?: boolean }) =>
      withClient(async (client) => {
        const { apiKeys } = await client.request<{ apiKeys: ApiKeyRow[] }>(`{ apiKeys { ${KEY_FIELDS} } }`);
        if (opts.json) return printJson(apiKeys);
        if (!apiKeys.length) return out('No keys');
        printTable(
          ['ID', 'NAME', 'ROLE', 'PREFIX', 'CREATED', 'LAST USED', 'EXPIRES', 'REVOKED'],
          apiKeys.map((k) => [
            k.id,
            k.name,
            k.role,
            k.prefix,
            formatAge(k.createdAt),
            formatAge(k.lastUsedAt),
            k.expiresAt ?? '-',
            k.revokedAt ? formatAge(k.revokedAt) : '-',
          ]),
        );
      }),
    );

  keys
    .command('revoke')
    .description('Revoke an API key (its open connections are closed)')
    .argument('<id>', 'key id (see llmfleet keys list)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ llmfleet keys revoke 3f6c…')
    .action(async (id: string, opts: { json?: boolean }) =>
      withClient(async (client) => {
        const { apiKeys } = await client.request<{ apiKeys: ApiKeyRow[] }>(`{ apiKeys { ${KEY_FIELDS} } }`);
        const key = apiKeys.find((k) => k.id === id || k.prefix === id);
        if (!key) {
          const byName = apiKeys.find((k) => k.name === id);
          throw notFoundError(
            `key "${id}" not found` +
              (byName ? ` — did you mean "${byName.id}" (${byName.name})?` : ': see llmfleet keys list'),
          );
        }
        const { revokeApiKey } = await client.request<{ revokeApiKey: ApiKeyRow }>(
          `mutation($id: ID!) { revokeApiKey(id: $id) { ${KEY_FIELDS} } }`,
          { id: key.id },
        );
        if (opts.json) return printJson(revokeApiKey);
        out(`Revoked key ${revokeApiKey.id} "${revokeApiKey.name}" (${revokeApiKey.role})`);
      }),
    );

  program
    .command('join-token')
    .description('Print the token agents need to join the fleet (ADMIN); --rotate makes a new one')
    .option('--rotate', 'replace the token (agents that join later need the new one)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ llmfleet join-token\n  $ NODE_JOIN_TOKEN=$(llmfleet join-token) CONTROL_PLANE_URL=http://cp:3000 npm run start:agent',
    )
    .action(async (opts: { rotate?: boolean }) =>
      withClient(async (client) => {
        const token = opts.rotate
          ? (await client.request<{ rotateJoinToken: string }>('mutation { rotateJoinToken }')).rotateJoinToken
          : (await client.request<{ joinToken: string }>('{ joinToken }')).joinToken;
        out(token);
      }),
    );
}
