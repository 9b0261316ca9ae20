import type { Command } from 'commander';
import { Option } from 'commander';
import type { FleetClient } from '../client.js';
import { listNodeRefs, modelNotFound, nodeNames, resolveNodes, withClient } from '../context.js';
import { usageError } from '../errors.js';
import { colorStatus, formatDuration, out, printJson, printTable } from '../output.js';
import { oneOf, positiveInt, REPAIR_STATUSES } from '../options.js';
import { NODE_STATE_FIELDS, nodeStateRecord } from './models.js';

interface RepairRow {
  id: string;
  modelId: string;
  nodeId: string;
  status: string;
  reason: string;
  trigger: string;
  attempts: number;
  detail: string;
  errorMessage: string | null;
  fromZero: boolean;
  startedAt: string;
  finishedAt: string | null;
  elapsedMs: number;
}

export const REPAIR_FIELDS =
  'id modelId nodeId status reason trigger attempts detail errorMessage fromZero startedAt finishedAt elapsedMs';

export function repairRecord(r: RepairRow, names: Map<string, string>) {
  return { ...r, node: names.get(r.nodeId) ?? r.nodeId };
}

async function requireModel(client: FleetClient, id: string): Promise<void> {
  const { model } = await client.request<{ model: { id: string; status: string } | null }>(
    'query($id: ID!) { model(id: $id) { id status } }',
    { id },
  );
  if (!model) throw await modelNotFound(client, id);
}

async function modelAndNode(client: FleetClient, id: string, node: string | undefined) {
  if (!node) throw usageError('which node? add --node NAME');
  await requireModel(client, id);
  const [target] = await resolveNodes(client, [node]);
  return target!;
}

export function registerRepairs(program: Command): void {
  program
    .command('repairs')
    .description('Repair history')
    .addHelpText('after', '\nExample:\n  $ llmfleet repairs list --node gpu-1')
    .command('list')
    .alias('ls')
    .description('Repairs, newest first')
    .option('--model <id>', 'only repairs of this model')
    .option('--node <name>', 'only repairs on this node')
    .addOption(new Option('--status <status>', REPAIR_STATUSES.join(', ')).argParser(oneOf(REPAIR_STATUSES)))
    .option('--limit <n>', 'how many (1 to 500)', positiveInt, 50)
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      `
JSON fields: id, modelId, nodeId, node, status, reason, trigger, attempts, detail, errorMessage, fromZero, startedAt,
finishedAt, elapsedMs.

Example:
  $ llmfleet repairs list --model hf/org/repo --status FAILED --json`,
    )
    .action(async (opts: { model?: string; node?: string; status?: string; limit: number; json?: boolean }) =>
      withClient(async (client) => {
        const nodeId = opts.node ? (await resolveNodes(client, [opts.node]))[0]!.id : null;
        if (opts.model) await requireModel(client, opts.model);
        const { repairs } = await client.request<{ repairs: RepairRow[] }>(
          `query($n: ID, $m: ID, $s: RepairStatus, $l: Int) { repairs(nodeId: $n, modelId: $m, status: $s, limit: $l) { ${REPAIR_FIELDS} } }`,
          { n: nodeId, m: opts.model ?? null, s: opts.status ?? null, l: Math.min(opts.limit, 500) },
        );
        const names = nodeNames(await listNodeRefs(client));
        if (opts.json) return printJson(repairs.map((r) => repairRecord(r, names)));
        if (!repairs.length) return out('No repairs');
        printTable(
          ['STARTED', 'MODEL', 'NODE', 'STATUS', 'REASON', 'TRIGGER', 'TOOK', 'DETAIL'],
          repairs.map((r) => [
            r.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
            r.modelId,
            names.get(r.nodeId) ?? r.nodeId,
            colorStatus(r.status),
            r.reason,
            r.trigger,
            formatDuration(r.elapsedMs / 1000),
            r.errorMessage ?? r.detail,
          ]),
        );
      }),
    );

  program
    .command('verify')
    .description("Check the sha256 of a node's copy of a model (a mismatch starts a repair)")
    .argument('<id>', 'model id')
    .requiredOption('--node <name>', 'the node')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ llmfleet verify hf/org/repo --node gpu-1')
    .action(async (id: string, opts: { node?: string; json?: boolean }) =>
      withClient(async (client) => {
        const node = await modelAndNode(client, id, opts.node);
        const { verifyModel } = await client.request<{ verifyModel: Parameters<typeof nodeStateRecord>[0] }>(
          `mutation($m: ID!, $n: ID!) { verifyModel(modelId: $m, nodeId: $n) { ${NODE_STATE_FIELDS} } }`,
          { m: id, n: node.id },
        );
        const record = nodeStateRecord(verifyModel, nodeNames([node]));
        if (opts.json) return printJson(record);
        out(
          `${id} on ${node.name}: ${colorStatus(record.status)}` +
            (record.errorMessage
              ? ` (${[record.errorCode ?? record.loadError, record.errorMessage].filter(Boolean).join(': ')})`
              : ''),
        );
      }),
    );

  program
    .command('repair')
    .description('Repair a model on a node now: re-download, verify, reload')
    .argument('<id>', 'model id')
    .requiredOption('--node <name>', 'the node')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ llmfleet repair hf/org/repo --node gpu-1')
    .action(async (id: string, opts: { node?: string; json?: boolean }) =>
      withClient(async (client) => {
        const node = await modelAndNode(client, id, opts.node);
        const { repairModel } = await client.request<{ repairModel: RepairRow }>(
          `mutation($m: ID!, $n: ID!) { repairModel(modelId: $m, nodeId: $n) { ${REPAIR_FIELDS} } }`,
          { m: id, n: node.id },
        );
        if (opts.json) return printJson(repairRecord(repairModel, nodeNames([node])));
        out(
          `Repair ${repairModel.id} of ${id} on ${node.name}: ${colorStatus(repairModel.status)} (follow with llmfleet watch)`,
        );
      }),
    );
}
