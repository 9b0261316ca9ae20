import 'reflect-metadata';
import { pino } from 'pino';
import { parseAgentConfig } from './agent/agent-config.js';
import { NodeAgent } from './agent/node-agent.js';
import { createApp } from './app.factory.js';
import { ConfigValidationError, parseAppConfig, type AppConfig } from './config/app-config.js';
import { DomainError } from './common/domain-error.js';

async function main(): Promise<void> {
  const config = parseAppConfig(process.env);
  const app = await createApp(config);
  await app.listen(config.PORT, config.HOST);
  const { port } = app.getHttpServer().address() as { port: number };
  console.log(`llmfleet control plane listening on http://${config.HOST}:${port} (GraphQL at /graphql)`);
  if (config.EMBEDDED_AGENT) {
    const agent = await startEmbeddedAgent(config, port);
    app.enableShutdownHooks();
    process.once('SIGTERM', () => void agent.stop());
  }
}

/** The same agent as `npm run start:agent`, in this process, so one machine is a working fleet of one. */
async function startEmbeddedAgent(config: AppConfig, port: number): Promise<NodeAgent> {
  const agentConfig = parseAgentConfig({
    ...process.env,
    CONTROL_PLANE_URL: `http://127.0.0.1:${port}`,
    AGENT_HOST: '127.0.0.1',
    AGENT_PORT: String(config.AGENT_PORT),
    MODELS_DIR: config.MODELS_DIR,
    ...(config.NODE_NAME ? { NODE_NAME: config.NODE_NAME } : {}),
  });
  const agent = new NodeAgent(agentConfig, pino({ level: config.LOG_LEVEL, base: { agent: agentConfig.NODE_NAME } }));
  await agent.start();
  console.log(`embedded agent ${agentConfig.NODE_NAME} joined the fleet (models in ${agent.store.root})`);
  return agent;
}

main().catch((err: unknown) => {
  if (err instanceof ConfigValidationError || err instanceof DomainError) {
    console.error(err.message);
  } else {
    console.error(err);
  }
  process.exit(1);
});
