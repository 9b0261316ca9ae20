import { pino } from 'pino';
import { AgentConfigError, parseAgentConfig } from './agent-config.js';
import { NodeAgent } from './node-agent.js';

async function main(): Promise<void> {
  const config = parseAgentConfig(process.env);
  const log = pino({ level: config.LOG_LEVEL, base: { node: config.NODE_NAME } });
  const agent = new NodeAgent(config, log);
  await agent.start();
  console.log(`llmfleet agent ${config.NODE_NAME} listening on ${agent.url}, models in ${agent.store.root}`);
  const shutdown = () => {
    void agent.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  console.error(err instanceof AgentConfigError ? err.message : err);
  process.exit(1);
});
