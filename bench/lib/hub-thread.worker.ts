import { parentPort, workerData } from 'node:worker_threads';
import { startHubWithCatalog } from './catalog-fixture.js';
import type { HubThreadCommand, HubThreadOptions, HubThreadReply } from './hub-thread.js';

const port = parentPort;
if (!port) throw new Error('hub-thread.worker must run in a worker thread');
const options = workerData as HubThreadOptions;

const send = (reply: HubThreadReply): void => port.postMessage(reply);

try {
  const catalog = await startHubWithCatalog(options.repos);
  catalog.hub.delay({ route: 'api', ms: options.apiDelayMs });
  port.on('message', (cmd: HubThreadCommand) => {
    switch (cmd.kind) {
      case 'api-calls': {
        const requests = catalog.hub.requests;
        const repos = requests
          .slice(cmd.since)
          .filter((r) => r.route === 'api')
          .map((r) => r.repo);
        send({ kind: 'api-calls', repos, length: requests.length });
        return;
      }
      case 'stop':
        catalog.dispose().then(
          () => send({ kind: 'stop' }),
          (err: unknown) => send({ kind: 'failed', error: String(err) }),
        );
        return;
    }
  });
  send({
    kind: 'started',
    url: catalog.hub.url,
    catalogPath: catalog.catalogPath,
    modelIds: catalog.modelIds,
    repos: catalog.repos,
  });
} catch (err) {
  send({ kind: 'failed', error: String(err) });
}
