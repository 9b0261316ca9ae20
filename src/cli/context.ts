import { FleetClient } from './client.js';
import { resolveConnection } from './config.js';
import { CliError, ExitCode, notFoundError } from './errors.js';
import { notFoundMessage } from './suggest.js';

/** A client of the configured control plane; fails with "not logged in" when no key is known. */
export async function connect(): Promise<FleetClient> {
  const connection = await resolveConnection();
  if (!connection.apiKey)
    throw new CliError('not logged in: run llmfleet login (or set LLMFLEET_API_KEY)', ExitCode.AUTH);
  return new FleetClient(connection);
}

/** Runs `fn` with a client and closes its socket afterwards. */
export async function withClient<T>(fn: (client: FleetClient) => Promise<T>): Promise<T> {
  const client = await connect();
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

export interface NodeRef {
  id: string;
  name: string;
}

export async function listNodeRefs(client: FleetClient): Promise<NodeRef[]> {
  return (await client.request<{ nodes: NodeRef[] }>('{ nodes { id name } }')).nodes;
}

/** The node named (or with the id) `wanted`; an unknown one fails with the closest name. */
export function findNode<T extends NodeRef>(nodes: readonly T[], wanted: string): T {
  const node = nodes.find((n) => n.name === wanted || n.id === wanted);
  if (!node) {
    throw notFoundError(
      notFoundMessage(
        'node',
        wanted,
        nodes.map((n) => n.name),
        'see llmfleet nodes list',
      ),
    );
  }
  return node;
}

/** Node names (or ids) to nodes; an unknown one fails with the closest name. */
export async function resolveNodes(client: FleetClient, namesOrIds: readonly string[]): Promise<NodeRef[]> {
  const nodes = await listNodeRefs(client);
  return namesOrIds.map((wanted) => findNode(nodes, wanted));
}

/** Fails with `model "x" not found — did you mean "y"?` unless `id` is a known model (catalog or registered). */
export async function modelNotFound(client: FleetClient, id: string): Promise<CliError> {
  const { models } = await client.request<{ models: Array<{ id: string }> }>('{ models { id } }');
  return notFoundError(
    notFoundMessage(
      'model',
      id,
      models.map((m) => m.id),
      'see llmfleet models list',
    ),
  );
}

export const nodeNames = (nodes: readonly NodeRef[]) => new Map(nodes.map((n) => [n.id, n.name]));
