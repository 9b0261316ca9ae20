import 'reflect-metadata';
import { AgentConfigError, parseAgentConfig, type AgentConfig } from './agent/agent-config.js';
import type { NodeAgent } from './agent/node-agent.js';
import { DomainError } from './common/domain-error.js';
import { ProcessLifecycle } from './common/process-lifecycle.js';
import { ConfigValidationError, heartbeatPortOf, parseAppConfig, type AppConfig } from './config/app-config.js';
import { DependencyUnavailableError, waitForDependencies } from './health/dependency-check.js';

/** A refusal to start that one line says in full (no stack). */
class StartupError extends Error {}

/** How long a stop signal waits for open work (HTTP, jobs, the embedded agent) to wind down. */
const SHUTDOWN_GRACE_MS = 20_000;

async function main(): Promise<void> {
  const config = parseAppConfig(process.env);
  // The embedded agent's settings are checked now, not after the control plane is up (a bad one would kill it then).
  if (config.EMBEDDED_AGENT) embeddedAgentConfig(config, 0);
  const lifecycle = new ProcessLifecycle(SHUTDOWN_GRACE_MS);
  await waitForDependencies({
    databaseUrl: config.DATABASE_URL,
    redisUrl: config.REDIS_URL,
    waitMs: config.DEPENDENCY_WAIT_MS,
    log: (line) => console.error(line),
    signal: lifecycle.signal,
  });
  // Loaded once Postgres and Redis answer: a refusal to start is said at once, not after seconds of module loading.
  const { createApp } = await import('./app.factory.js');
  const app = await createApp(config);
  lifecycle.onShutdown(() => app.close());
  await app.listen(config.PORT, config.HOST);
  const { port } = app.getHttpServer().address() as { port: number };
  let ready = `llmfleet control plane listening on http://${config.HOST}:${port} (GraphQL at /graphql)`;
  const heartbeatPort = heartbeatPortOf(config);
  if (heartbeatPort !== null) {
    const [{ HeartbeatListener, HeartbeatPortInUseError }, { AgentProtocolController }] = await Promise.all([
      import('./nodes/heartbeat-listener.js'),
      import('./downloads/agent-protocol.controller.js'),
    ]);
    const protocol = app.get(AgentProtocolController);
    const listener = await HeartbeatListener.start(app, config, heartbeatPort, port, (nodeId, heartbeat) =>
      protocol.applyHeartbeatStates(nodeId, heartbeat),
    ).catch(async (err: unknown) => {
      await app.close();
      throw err instanceof HeartbeatPortInUseError ? new StartupError(err.message) : err;
    });
    lifecycle.onShutdown(() => listener.stop());
    ready += `\nllmfleet heartbeat listener on http://${config.HOST}:${listener.port} (its own thread)`;
  }
  // Said once the ports it names answer (the heartbeat listener's thread takes a moment to start).
  console.log(ready);
  if (config.EMBEDDED_AGENT) {
    const { JoinTokenService } = await import('./nodes/join-token.service.js');
    const joinTokens = app.get(JoinTokenService);
    const agent = await startEmbeddedAgent(config, port, () => joinTokens.current());
    lifecycle.onShutdown(() => agent.stop());
  }
  lifecycle.markStarted();
}

/** The same agent as `npm run start:agent`, in this process, so one machine is a working fleet of one. */
async function startEmbeddedAgent(
  config: AppConfig,
  port: number,
  joinToken: () => Promise<string>,
): Promise<NodeAgent> {
  const [{ NodeAgent }, { pino }] = await Promise.all([import('./agent/node-agent.js'), import('pino')]);
  const agentConfig = embeddedAgentConfig(config, port);
  const agent = new NodeAgent(
    agentConfig,
    pino({ level: config.LOG_LEVEL, base: { agent: agentConfig.NODE_NAME } }),
    joinToken,
  );
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
  if (
    err instanceof ConfigValidationError ||
    err instanceof AgentConfigError ||
    err instanceof DependencyUnavailableError ||
    err instanceof StartupError ||
    err instanceof DomainError
  ) {
    console.error(err.message);
  } else {
    console.error(err);
  }
  process.exit(1);
});
