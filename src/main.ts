import 'reflect-metadata';
import { pino } from 'pino';
import { AgentConfigError, parseAgentConfig, type AgentConfig } from './agent/agent-config.js';
import { NodeAgent } from './agent/node-agent.js';
import { createApp } from './app.factory.js';
import { ConfigValidationError, parseAppConfig, type AppConfig } from './config/app-config.js';
import { DomainError } from './common/domain-error.js';

async function main(): Promise<void> {
  const config = parseAppConfig(process.env);
  // The embedded agent's settings are checked now, not after the control plane is up (a bad one would kill it then).
  if (config.EMBEDDED_AGENT) embeddedAgentConfig(config, 0);
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
  const agentConfig = embeddedAgentConfig(config, port);
  const agent = new NodeAgent(agentConfig, pino({ level: config.LOG_LEVEL, base: { agent: agentConfig.NODE_NAME } }));
  await agent.start();
  console.log(`embedded agent ${agentConfig.NODE_NAME} joined the fleet (models in ${agent.store.root})`);
  return agent;
}

function embeddedAgentConfig(config: AppConfig, port: number): AgentConfig {
  return parseAgentConfig({
    ...process.env,
    CONTROL_PLANE_URL: `http://127.0.0.1:${port || 3000}`,
    AGENT_HOST: '127.0.0.1',
    AGENT_PORT: String(config.AGENT_PORT),
    MODELS_DIR: config.MODELS_DIR,
    ...(config.NODE_NAME ? { NODE_NAME: config.NODE_NAME } : {}),
  });
}

main().catch((err: unknown) => {
  if (err instanceof ConfigValidationError || err instanceof AgentConfigError || err instanceof DomainError) {
    console.error(err.message);
  } else {
    console.error(err);
  }
  process.exit(1);
});
