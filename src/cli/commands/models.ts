import type { Command } from 'commander';
import { Option } from 'commander';
import { read } from 'read';
import type { FleetClient } from '../client.js';
import { listNodeRefs, modelNotFound, nodeNames, resolveNodes, withClient } from '../context.js';
import { CliError, ExitCode, usageError } from '../errors.js';
import { colorStatus, formatBytes, formatCount, formatPercent, out, printJson, printTable } from '../output.js';
import { collect, MODEL_STATUSES, oneOf } from '../options.js';
import { downloadAndWait } from './download-wait.js';

interface ModelRow {
  id: string;
  status: string;
  source: string;
  availableNodes: number;
  downloadProgress: number | null;
  errorMessage: string | null;
  model: { name: string; repo: string; sizeBytes: number; requiredMemoryBytes: number; quantization: string };
  hfStats: { downloads: number } | null;
}

const ROW_FIELDS = `id status source availableNodes downloadProgress errorMessage
  model { name repo sizeBytes requiredMemoryBytes quantization } hfStats { downloads }`;

export const NODE_STATE_FIELDS = `nodeId lifecycleStatus progress bytesDone bytesTotal errorCode errorMessage loadError
  source sourceNodeId sourceNodeName updatedAt`;

interface NodeState {
  nodeId: string;
  lifecycleStatus: string;
  progress: number;
  bytesDone: number;
  bytesTotal: number;
  errorCode: string | null;
  errorMessage: string | null;
  loadError: string | null;
  source: 'HUB' | 'PEER' | null;
  sourceNodeId: string | null;
  sourceNodeName: string | null;
  updatedAt: string;
}

/** The SOURCE column: HUB, peer:<node name>, or - before the control plane gave the node a source. */
export function sourceLabel(s: Pick<NodeState, 'source' | 'sourceNodeId' | 'sourceNodeName'>): string {
  switch (s.source) {
    case 'HUB':
      return 'HUB';
    case 'PEER':
      return `peer:${s.sourceNodeName ?? s.sourceNodeId ?? '(removed node)'}`;
    case null:
      return '-';
  }
}

interface ModelDetail extends ModelRow {
  revision: string | null;
  selectionNote: string | null;
  registeredAt: string | null;
  files: Array<{ path: string; size: number; sha256: string; role: string }>;
  nodes: NodeState[];
}

/** The `--json` record of a model in a list: field names are part of the CLI's contract. */
function listRecord(m: ModelRow) {
  return {
    id: m.id,
    name: m.model.name,
    status: m.status,
    source: m.source,
    repo: m.model.repo,
    quantization: m.model.quantization,
    readyNodes: m.availableNodes,
    downloadProgress: m.downloadProgress,
    sizeBytes: m.model.sizeBytes,
    requiredMemoryBytes: m.model.requiredMemoryBytes,
    hubDownloads: m.hfStats?.downloads ?? null,
    errorMessage: m.errorMessage,
  };
}

export function nodeStateRecord(s: NodeState, names: Map<string, string>) {
  return {
    nodeId: s.nodeId,
    node: names.get(s.nodeId) ?? s.nodeId,
    status: s.lifecycleStatus,
    progress: s.progress,
    bytesDone: s.bytesDone,
    bytesTotal: s.bytesTotal,
    errorCode: s.errorCode,
    errorMessage: s.errorMessage,
    loadError: s.loadError,
    source: s.source,
    sourceNodeId: s.sourceNodeId,
    sourceNodeName: s.sourceNodeName,
    updatedAt: s.updatedAt,
  };
}

async function findModel(client: FleetClient, id: string): Promise<ModelDetail> {
  const { model } = await client.request<{ model: ModelDetail | null }>(
    `query($id: ID!) { model(id: $id) { ${ROW_FIELDS} revision selectionNote registeredAt
      files { path size sha256 role } nodes { ${NODE_STATE_FIELDS} } } }`,
    { id },
  );
  if (!model) throw await modelNotFound(client, id);
  return model;
}

/** A catalog id is registered from the catalog; anything with a slash (org/repo, a Hub URL) from the Hub. */
async function addModel(client: FleetClient, ref: string): Promise<ModelDetail> {
  const fields = `${ROW_FIELDS} revision selectionNote registeredAt files { path size sha256 role } nodes { ${NODE_STATE_FIELDS} }`;
  if (ref.includes('/')) {
    if (ref.startsWith('hf/'))
      return (
        await client.request<{ registerModel: ModelDetail }>(
          `mutation($id: ID!) { registerModel(modelId: $id) { ${fields} } }`,
          { id: ref },
        )
      ).registerModel;
    return (
      await client.request<{ registerHfModel: ModelDetail }>(
        `mutation($url: String!) { registerHfModel(url: $url) { ${fields} } }`,
        { url: ref },
      )
    ).registerHfModel;
  }
  const { supportedModels } = await client.request<{ supportedModels: Array<{ id: string }> }>(
    '{ supportedModels { id } }',
  );
  if (!supportedModels.some((m) => m.id === ref)) {
    const err = await modelNotFound(client, ref);
    throw new CliError(
      `${err.message.replace(/: see llmfleet models list$/, '')} (a catalog id, org/repo or a Hugging Face URL)`,
      ExitCode.NOT_FOUND,
    );
  }
  return (
    await client.request<{ registerModel: ModelDetail }>(
      `mutation($id: ID!) { registerModel(modelId: $id) { ${fields} } }`,
      { id: ref },
    )
  ).registerModel;
}

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) throw usageError(`${question} — not asked without a terminal: add --yes`);
  const answer = await read({ prompt: `${question} [y/N] `, output: process.stderr }).catch(() => '');
  return /^y(es)?$/i.test(answer.trim());
}

export function registerModels(program: Command): void {
  const models = program
    .command('models')
    .description('List, add, download and remove models')
    .addHelpText('after', '\nExample:\n  $ llmfleet models list --status READY');

  models
    .command('list')
    .alias('ls')
    .description('Catalog and registered models with their fleet status')
    .addOption(
      new Option('--status <status>', `only models in this status (${MODEL_STATUSES.join(', ')})`).argParser(
        oneOf(MODEL_STATUSES),
      ),
    )
    .option('--search <text>', 'text matched against id, name, repo, quantization, tags')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      `
JSON fields: id, name, status, source, repo, quantization, readyNodes, downloadProgress, sizeBytes,
requiredMemoryBytes, hubDownloads, errorMessage.

Examples:
  $ llmfleet models list --status READY
  $ llmfleet models list --search qwen --json | jq -r '.[].id'`,
    )
    .action(async (opts: { status?: string; search?: string; json?: boolean }) =>
      withClient(async (client) => {
        const { models: rows } = await client.request<{ models: ModelRow[] }>(
          `query($status: ModelStatus, $search: String) { models(status: $status, search: $search) { ${ROW_FIELDS} } }`,
          { status: opts.status ?? null, search: opts.search ?? null },
        );
        if (opts.json) return printJson(rows.map(listRecord));
        if (!rows.length) return out('No models match.');
        printTable(
          ['ID', 'STATUS', 'READY', 'SIZE', 'MEMORY', 'HUB DOWNLOADS'],
          rows.map((m) => [
            m.id,
            m.status === 'DOWNLOADING'
              ? `${colorStatus(m.status)} ${formatPercent(m.downloadProgress)}`
              : colorStatus(m.status),
            m.availableNodes,
            formatBytes(m.model.sizeBytes),
            formatBytes(m.model.requiredMemoryBytes),
            formatCount(m.hfStats?.downloads),
          ]),
        );
      }),
    );

  models
    .command('show')
    .description('One model: its files (with sha256) and its state on each node')
    .argument('<id>', 'model id')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      `
SOURCE says where a node's bytes come from: HUB, or peer:<node> when it copies them from another node (peer copy).
JSON: the list's fields plus revision, selectionNote, registeredAt, files[{path, size, sha256, role}], nodes[{nodeId,
node, status, progress, bytesDone, bytesTotal, errorCode, errorMessage, loadError, source, sourceNodeId,
sourceNodeName, updatedAt}].

Example:
  $ llmfleet models show hf/Qwen/Qwen2.5-0.5B-Instruct-GGUF`,
    )
    .action(async (id: string, opts: { json?: boolean }) =>
      withClient(async (client) => {
        const model = await findModel(client, id);
        const names = nodeNames(model.nodes.length ? await listNodeRefs(client) : []);
        if (opts.json)
          return printJson({
            ...listRecord(model),
            revision: model.revision,
            selectionNote: model.selectionNote,
            registeredAt: model.registeredAt,
            files: model.files,
            nodes: model.nodes.map((s) => nodeStateRecord(s, names)),
          });
        out(`${model.id} — ${model.model.name}`);
        out(`status:    ${colorStatus(model.status)}${model.errorMessage ? ` (${model.errorMessage})` : ''}`);
        out(`source:    ${model.source} ${model.model.repo}${model.revision ? ` @ ${model.revision}` : ''}`);
        out(
          `size:      ${formatBytes(model.model.sizeBytes)} (needs ${formatBytes(model.model.requiredMemoryBytes)} of memory)`,
        );
        if (model.selectionNote) out(`selection: ${model.selectionNote}`);
        out();
        if (model.files.length)
          printTable(
            ['FILE', 'ROLE', 'SIZE', 'SHA256'],
            model.files.map((f) => [f.path, f.role, formatBytes(f.size), f.sha256]),
          );
        else out('Not registered: no files pinned (llmfleet models add ' + model.id + ')');
        out();
        if (model.nodes.length)
          printTable(
            ['NODE', 'STATUS', 'PROGRESS', 'BYTES', 'SOURCE', 'ERROR'],
            model.nodes.map((s) => [
              names.get(s.nodeId) ?? s.nodeId,
              colorStatus(s.lifecycleStatus),
              formatPercent(s.progress),
              `${formatBytes(s.bytesDone)} / ${formatBytes(s.bytesTotal)}`,
              sourceLabel(s),
              s.errorMessage ? `${s.errorCode ?? s.loadError ?? ''} ${s.errorMessage}`.trim() : '',
            ]),
          );
        else out('On no node yet (llmfleet models download ' + model.id + ')');
      }),
    );

  models
    .command('add')
    .description('Register a model: a catalog id, org/repo, or a Hugging Face URL (no bytes move yet)')
    .argument('<ref>', 'catalog id | org/repo | https://huggingface.co/org/repo[/blob/rev/file.gguf]')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      `
Examples:
  $ llmfleet models add qwen2.5-7b-instruct
  $ llmfleet models add Qwen/Qwen2.5-0.5B-Instruct-GGUF
  $ llmfleet models add https://huggingface.co/org/repo/blob/main/model-Q4_K_M.gguf`,
    )
    .action(async (ref: string, opts: { json?: boolean }) =>
      withClient(async (client) => {
        const model = await addModel(client, ref);
        if (opts.json)
          return printJson({
            ...listRecord(model),
            revision: model.revision,
            selectionNote: model.selectionNote,
            files: model.files,
          });
        out(`Registered ${model.id} (${model.status})`);
        for (const f of model.files) out(`  ${f.role.toLowerCase()} ${f.path} ${formatBytes(f.size)}`);
        if (model.selectionNote) out(`  ${model.selectionNote}`);
        out(`Next: llmfleet models download ${model.id} --wait`);
      }),
    );

  models
    .command('download')
    .alias('pull')
    .description('Download a registered model to every node, or to the given ones; --wait shows live progress')
    .argument('<id>', 'model id')
    .option('--node <name>', 'a node to download to (repeatable; default: every node)', collect)
    .option('--wait', 'follow the downloads until every node is READY or failed (exit 0 only if all READY)')
    .option('--json', 'machine-readable output (with --wait: the final states)')
    .addHelpText(
      'after',
      `
With --wait: a progress bar per node on a terminal (plain lines every few seconds otherwise), then each node's
outcome. Ctrl-C stops watching; the downloads go on (llmfleet models show ID).

Examples:
  $ llmfleet models download hf/Qwen/Qwen2.5-0.5B-Instruct-GGUF --wait
  $ llmfleet models download qwen2.5-7b-instruct --node gpu-1 --node gpu-2`,
    )
    .action(async (id: string, opts: { node?: string[]; wait?: boolean; json?: boolean }) =>
      withClient(async (client) => {
        const model = await findModel(client, id);
        const targets = opts.node?.length ? await resolveNodes(client, opts.node) : null;
        if (opts.wait) {
          process.exitCode = await downloadAndWait(client, model.id, targets, { json: Boolean(opts.json) });
          return;
        }
        const names = nodeNames(await listNodeRefs(client));
        const { downloadModel: states } = await client.request<{ downloadModel: NodeState[] }>(
          `mutation($m: ID!, $n: [ID!]) { downloadModel(modelId: $m, nodeIds: $n) { ${NODE_STATE_FIELDS} } }`,
          { m: model.id, n: targets?.map((t) => t.id) ?? null },
        );
        if (opts.json) return printJson(states.map((s) => nodeStateRecord(s, names)));
        if (!states.length) return out('No node to download to (llmfleet nodes list)');
        printTable(
          ['NODE', 'STATUS', 'SIZE', 'ERROR'],
          states.map((s) => [
            names.get(s.nodeId) ?? s.nodeId,
            colorStatus(s.lifecycleStatus),
            formatBytes(s.bytesTotal),
            s.errorMessage ?? '',
          ]),
        );
        out(`Follow with: llmfleet models download ${model.id} --wait`);
      }),
    );

  models
    .command('cancel')
    .description('Stop downloads of a model (the partial file is kept: a later download resumes)')
    .argument('<id>', 'model id')
    .option('--node <name>', 'a node (repeatable; default: every node)', collect)
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ llmfleet models cancel hf/org/repo --node gpu-1')
    .action(async (id: string, opts: { node?: string[]; json?: boolean }) =>
      withClient(async (client) => {
        const model = await findModel(client, id);
        const targets = opts.node?.length ? await resolveNodes(client, opts.node) : null;
        const names = nodeNames(await listNodeRefs(client));
        const { cancelDownload: states } = await client.request<{ cancelDownload: NodeState[] }>(
          `mutation($m: ID!, $n: [ID!]) { cancelDownload(modelId: $m, nodeIds: $n) { ${NODE_STATE_FIELDS} } }`,
          { m: model.id, n: targets?.map((t) => t.id) ?? null },
        );
        if (opts.json) return printJson(states.map((s) => nodeStateRecord(s, names)));
        if (!states.length) return out(`No download of ${model.id} to cancel`);
        for (const s of states) out(`${names.get(s.nodeId) ?? s.nodeId}  ${colorStatus(s.lifecycleStatus)}`);
      }),
    );

  models
    .command('rm')
    .description('Unregister a model (files on nodes are kept)')
    .argument('<id>', 'model id')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ llmfleet models rm hf/org/repo')
    .action(async (id: string, opts: { json?: boolean }) =>
      withClient(async (client) => {
        const model = await findModel(client, id);
        const { unregisterModel } = await client.request<{ unregisterModel: ModelRow }>(
          `mutation($id: ID!) { unregisterModel(modelId: $id) { ${ROW_FIELDS} } }`,
          { id: model.id },
        );
        if (opts.json) return printJson(listRecord(unregisterModel));
        out(`Unregistered ${unregisterModel.id} (now ${unregisterModel.status}); files on nodes were kept`);
      }),
    );

  models
    .command('delete')
    .description("Delete a model's files from every node, then unregister it (asks first unless --yes)")
    .argument('<id>', 'model id')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ llmfleet models delete hf/org/repo --yes')
    .action(async (id: string, opts: { yes?: boolean; json?: boolean }) =>
      withClient(async (client) => {
        const model = await findModel(client, id);
        const where = model.nodes.length ? `from ${model.nodes.length} node(s)` : 'from every node';
        if (!opts.yes && !(await confirm(`Delete ${model.id}'s files ${where} and unregister it?`))) {
          throw new CliError('nothing deleted', ExitCode.FAILED);
        }
        const { deleteModel } = await client.request<{ deleteModel: ModelRow }>(
          `mutation($id: ID!) { deleteModel(modelId: $id) { ${ROW_FIELDS} } }`,
          { id: model.id },
        );
        if (opts.json) return printJson(listRecord(deleteModel));
        out(`Deleted ${deleteModel.id}'s files ${where} and unregistered it`);
      }),
    );
}
