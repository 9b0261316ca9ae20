import type { Command } from 'commander';
import pc from 'picocolors';
import { listNodeRefs, resolveNodes, withClient } from '../context.js';
import type { CliError } from '../errors.js';
import { colorStatus, err, formatPercent, out } from '../output.js';

interface ModelEvent {
  seq: number;
  timestamp: string;
  modelId: string;
  status: string;
  progress: number | null;
  nodeId: string | null;
  lifecycleStatus: string | null;
  errorMessage: string | null;
}
interface NodeEvent {
  seq: number;
  timestamp: string;
  nodeId: string;
  name: string;
  status: string;
}
interface RepairEvent {
  id: string;
  timestamp?: string;
  modelId: string;
  nodeId: string;
  status: string;
  reason: string;
  trigger: string;
  attempts: number;
  errorMessage: string | null;
  startedAt: string;
  finishedAt: string | null;
}

const time = (iso: string | null | undefined) => (iso ?? new Date().toISOString()).replace(/\.\d+Z$/, 'Z');

export function registerWatch(program: Command): void {
  program
    .command('watch')
    .description('Stream model, node and repair events, one line each, until Ctrl-C')
    .option('--model <id>', 'only events about this model (node and repair events too)')
    .option('--node <name>', 'only events about this node')
    .option('--json', 'one JSON object per line: { "type": "model" | "node" | "repair", ...the event }')
    .addHelpText(
      'after',
      `
Lines go to stdout as events arrive; a note on stderr says when the stream is connected (again).

Examples:
  $ llmfleet watch
  $ llmfleet watch --model hf/org/repo --json >> events.ndjson`,
    )
    .action(async (opts: { model?: string; node?: string; json?: boolean }) =>
      withClient(async (client) => {
        const nodeId = opts.node ? (await resolveNodes(client, [opts.node]))[0]!.id : null;
        const names = new Map((await listNodeRefs(client)).map((n) => [n.id, n.name]));
        const name = (id: string | null) => (id ? (names.get(id) ?? id) : '');
        const emit = (type: string, event: object, line: string) =>
          out(opts.json ? JSON.stringify({ type, ...event }) : line);

        let connections = 0;
        const offConnected = client.onConnected(() => {
          err(connections++ ? 'reconnected (events while disconnected were missed)' : 'watching; Ctrl-C to stop');
        });
        const done = new Promise<CliError | null>((resolve) => {
          const stop = () => resolve(null);
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
          const failed = (e: CliError) => resolve(e);
          client.subscribe<{ modelStatusChanged: ModelEvent }>(
            `subscription($m: ID) { modelStatusChanged(modelId: $m) {
              seq timestamp modelId status progress nodeId lifecycleStatus errorMessage } }`,
            { m: opts.model ?? null },
            ({ modelStatusChanged: e }) => {
              if (nodeId && e.nodeId !== nodeId) return;
              const where = e.nodeId ? ` on ${name(e.nodeId)}: ${colorStatus(e.lifecycleStatus ?? '')}` : '';
              const progress =
                e.lifecycleStatus === 'DOWNLOADING' || (!e.nodeId && e.status === 'DOWNLOADING')
                  ? ` ${formatPercent(e.progress)}`
                  : '';
              emit(
                'model',
                { ...e, node: e.nodeId ? name(e.nodeId) : null },
                `${pc.dim(time(e.timestamp))} model  ${e.modelId} ${colorStatus(e.status)}${where}${progress}` +
                  (e.errorMessage ? ` — ${e.errorMessage}` : ''),
              );
            },
            failed,
          );
          if (!opts.model)
            client.subscribe<{ nodeStatusChanged: NodeEvent }>(
              'subscription($n: ID) { nodeStatusChanged(nodeId: $n) { seq timestamp nodeId name status } }',
              { n: nodeId },
              ({ nodeStatusChanged: e }) => {
                names.set(e.nodeId, e.name);
                emit('node', e, `${pc.dim(time(e.timestamp))} node   ${e.name} ${colorStatus(e.status)}`);
              },
              failed,
            );
          client.subscribe<{ repairStatusChanged: RepairEvent }>(
            `subscription($n: ID, $m: ID) { repairStatusChanged(nodeId: $n, modelId: $m) {
              id modelId nodeId status reason trigger attempts errorMessage startedAt finishedAt } }`,
            { n: nodeId, m: opts.model ?? null },
            ({ repairStatusChanged: e }) =>
              emit(
                'repair',
                { ...e, node: name(e.nodeId) },
                `${pc.dim(time(e.finishedAt ?? e.startedAt))} repair ${e.modelId} on ${name(e.nodeId)}: ${colorStatus(e.status)} (${e.reason}, ${e.trigger}, attempt ${e.attempts})` +
                  (e.errorMessage ? ` — ${e.errorMessage}` : ''),
              ),
            failed,
          );
        });
        const failure = await done;
        offConnected();
        if (failure) throw failure;
      }),
    );
}
