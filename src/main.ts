import 'reflect-metadata';
import { createApp } from './app.factory.js';
import { ConfigValidationError, parseAppConfig } from './config/app-config.js';
import { DomainError } from './common/domain-error.js';

async function main(): Promise<void> {
  const config = parseAppConfig(process.env);
  const app = await createApp(config);
  await app.listen(config.PORT, config.HOST);
  const url = await app.getUrl();
  console.log(`llmfleet control plane listening on ${url} (GraphQL at /graphql)`);
}

main().catch((err: unknown) => {
  if (err instanceof ConfigValidationError || err instanceof DomainError) {
    console.error(err.message);
  } else {
    console.error(err);
  }
  process.exit(1);
});
