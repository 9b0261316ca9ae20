import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import { createApp } from '../app.factory.js';
import { parseAppConfig } from '../config/app-config.js';
import { printContractSchema } from '../graphql/print-schema.js';

/** Writes the code-first schema to schema.gql (the committed contract). Needs the database and Redis the app uses. */
async function main(): Promise<void> {
  // A throwaway ADMIN_API_KEY: emitting the schema must not create the first-start admin key.
  const config = parseAppConfig({
    ...process.env,
    LOG_LEVEL: 'warn',
    EMBEDDED_AGENT: 'false',
    ADMIN_API_KEY: randomBytes(32).toString('base64url'),
  });
  const app = await createApp(config);
  await app.init();
  const sdl = printContractSchema(app.get(GraphQLSchemaHost).schema);
  await app.close();
  const target = resolve(process.cwd(), 'schema.gql');
  await writeFile(target, sdl);
  console.log(`wrote ${target}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
