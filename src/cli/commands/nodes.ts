import type { Command } from 'commander';
import { Option } from 'commander';
import type { FleetClient } from '../client.js';
import { findNode, withClient } from '../context.js';
import { colorStatus, formatAge, formatBytes, formatPercent, out, printJson, printTable } from '../output.js';
import { NODE_STATUSES, oneOf } from '../options.js';

interface NodeRow {
  id: string;
  name: string;
  status: string;
  platform: string;
  url: string;
  cpuCount: number;
  memoryBytes: number;
  lastHeartbeatAt: string;
  registeredAt: string;
  gpus: Array<{ name: string; vramTotalBytes: number }>;
  metrics: { cpuUsage: number; gpuUsage: number | null; memoryUsage: number; requestCount: number } | null;
  models: Array<{
    modelId: string;
    lifecycleStatus: string;
    progress: number;
    bytesTotal: number;
    errorCode: string | null;
    errorMessage: string | null;
  }>;
}

const NODE_FIELDS = `id name status platform url cpuCount memoryBytes lastHeartbeatAt registeredAt
  gpus { name vramTotalBytes } metrics { cpuUsage gpuUsage memoryUsage requestCount }
  models { modelId lifecycleStatus progress bytesTotal errorCode errorMessage }`;

/** The `--json` record of a node: field names are part of the CLI's contract. */
function nodeRecord(n: NodeRow) {
  return {
    id: n.id,
    name: n.name,
    status: n.status,
    platform: n.platform,
    url: n.url,
    cpuCount: n.cpuCount,
    memoryBytes: n.memoryBytes,
    gpus: n.gpus,
    lastHeartbeatAt: n.lastHeartbeatAt,
    registeredAt: n.registeredAt,
    metrics: n.metrics,
    models: n.models.map((m) => ({
      modelId: m.modelId,
      status: m.lifecycleStatus,
      progress: m.progress,
      bytesTotal: m.bytesTotal,
      errorCode: m.errorCode,
      errorMessage: m.errorMessage,
    })),
  };
}

async function allNodes(client: FleetClient, status?: string): Promise<NodeRow[]> {
  return (
    await client.request<{ nodes: NodeRow[] }>(`query($s: NodeStatus) { nodes(status: $s) { ${NODE_FIELDS} } }`, {
      s: status ?? null,
    })
  ).nodes;
}

interface PeerCopyStats {
  bytesFromHub: number;
  bytesFromPeers: number;
  bytesSavedFromHub: number;
  peerTransfers: number;
  reportedPeers: number;
}

/** The fleet's peer-copy line under the node table: the Hub bytes its nodes copied from each other instead. */
async function peerCopyLine(client: FleetClient): Promise<string> {
  const { peerCopyStats: s } = await client.request<{ peerCopyStats: PeerCopyStats }>(
    '{ peerCopyStats { bytesFromHub bytesFromPeers bytesSavedFromHub peerTransfers reportedPeers } }',
  );
  const copies = `${s.peerTransfers} ${s.peerTransfers === 1 ? 'copy' : 'copies'} between nodes`;
  const reported = s.reportedPeers
    ? `; ${s.reportedPeers} ${s.reportedPeers === 1 ? 'node' : 'nodes'} served bytes that failed the sha256 check`
    : '';
  return `Peer copy: ${formatBytes(s.bytesSavedFromHub)} saved from the Hub (${copies}); ${formatBytes(s.bytesFromHub)} fetched from the Hub${reported}`;
}

const gpuSummary = (n: NodeRow) =>
  n.gpus.length ? n.gpus.map((g) => `${g.name} (${formatBytes(g.vramTotalBytes)})`).join(', ') : 'CPU only';

export function registerNodes(program: Command): void {
  const nodes = program
    .command('nodes')
    .description('The fleet: nodes, their GPUs, memory and models')
    .addHelpText('after', '\nExample:\n  $ llmfleet nodes list');

  nodes
    .command('list')
    .alias('ls')
    .description('Every node with its status, memory, models and last heartbeat; the bytes peer copy saved')
    .addOption(new Option('--status <status>', 'ONLINE or OFFLINE').argParser(oneOf(NODE_STATUSES)))
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      `
JSON fields: id, name, status, platform, url, cpuCount, memoryBytes, gpus[{name, vramTotalBytes}], lastHeartbeatAt,
registeredAt, metrics{cpuUsage, gpuUsage, memoryUsage, requestCount}, models[{modelId, status, progress, bytesTotal,
errorCode, errorMessage}]. The peer-copy line (Hub bytes saved by copying between nodes) is not in --json: query
{ peerCopyStats { bytesFromHub bytesFromPeers bytesSavedFromHub peerTransfers reportedPeers } } for it.

Example:
  $ llmfleet nodes list --status ONLINE`,
    )
    .action(async (opts: { status?: string; json?: boolean }) =>
      withClient(async (client) => {
        const rows = await allNodes(client, opts.status);
        if (opts.json) return printJson(rows.map(nodeRecord));
        if (!rows.length) return out('No nodes (start an agent: see the README, "Nodes and downloads")');
        printTable(
          ['NAME', 'STATUS', 'GPUS', 'MEMORY', 'MODELS READY', 'LAST HEARTBEAT'],
          rows.map((n) => [
            n.name,
            colorStatus(n.status),
            gpuSummary(n),
            formatBytes(n.memoryBytes),
            `${n.models.filter((m) => m.lifecycleStatus === 'READY').length}/${n.models.length}`,
            formatAge(n.lastHeartbeatAt),
          ]),
        );
        out();
        out(await peerCopyLine(client));
      }),
    );

  nodes
    .command('show')
    .description('One node: GPUs, memory, load, models, last heartbeat')
    .argument('<name>', 'node name (or id)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ llmfleet nodes show gpu-1')
    .action(async (wanted: string, opts: { json?: boolean }) =>
      withClient(async (client) => {
        const node = findNode(await allNodes(client), wanted);
        if (opts.json) return printJson(nodeRecord(node));
        out(`${node.name} (${node.id})`);
        out(`status:         ${colorStatus(node.status)}, last heartbeat ${formatAge(node.lastHeartbeatAt)}`);
        out(`url:            ${node.url}`);
        out(`platform:       ${node.platform}, ${node.cpuCount} CPUs`);
        out(`gpus:           ${gpuSummary(node)}`);
        out(`memory:         ${formatBytes(node.memoryBytes)}`);
        if (node.metrics)
          out(
            `load:           CPU ${node.metrics.cpuUsage.toFixed(0)}%, memory ${node.metrics.memoryUsage.toFixed(0)}%` +
              (node.metrics.gpuUsage === null ? '' : `, GPU ${node.metrics.gpuUsage.toFixed(0)}%`) +
              `, ${node.metrics.requestCount} requests`,
          );
        out();
        if (!node.models.length) return out('No models on this node');
        printTable(
          ['MODEL', 'STATUS', 'PROGRESS', 'SIZE', 'ERROR'],
          node.models.map((m) => [
            m.modelId,
            colorStatus(m.lifecycleStatus),
            formatPercent(m.progress),
            formatBytes(m.bytesTotal),
            m.errorMessage ? `${m.errorCode ?? ''} ${m.errorMessage}`.trim() : '',
          ]),
        );
      }),
    );
}
