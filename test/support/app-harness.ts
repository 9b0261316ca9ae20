import type { NestExpressApplication } from '@nestjs/platform-express';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { createApp } from '../../src/app.factory.js';
import type { AppConfig } from '../../src/config/app-config.js';
import { testEnv, type TestEnv } from './test-env.js';

/** Whose key a request carries: the harness's admin key by default, another key, or none (`null`). */
export interface AsKey {
  key?: string | null;
}

export interface GqlResponse<T> {
  data?: T;
  errors?: Array<{ message: string; path?: string[]; extensions?: Record<string, unknown> & { code?: string } }>;
}

/** A running control plane on a free port, with its own database and Redis prefix, and clients that speak to it. */
export class AppHarness {
  private readonly wsClients: Client[] = [];

  private constructor(
    readonly app: NestExpressApplication,
    readonly url: string,
    readonly config: AppConfig,
    private readonly env: TestEnv | null,
  ) {}

  static async start(overrides: Record<string, string> = {}): Promise<AppHarness> {
    const env = testEnv(overrides);
    return AppHarness.boot(env.config, env);
  }

  /** Another replica of the same control plane: same database, same Redis prefix (stopping it cleans up nothing). */
  static async replicaOf(primary: AppHarness): Promise<AppHarness> {
    return AppHarness.boot(primary.config, null);
  }

  /**
   * The environment a control-plane process (MAIN_JS) needs to be another replica of this one: same database, same
   * Redis prefix, same admin key, its own port, no embedded agent. Add the settings the test is about.
   */
  replicaProcessEnv(): Record<string, string> {
    return {
      DATABASE_URL: this.config.DATABASE_URL,
      REDIS_URL: this.config.REDIS_URL,
      REDIS_PREFIX: this.config.REDIS_PREFIX,
      ADMIN_API_KEY: this.adminKey,
      PORT: '0',
      HOST: '127.0.0.1',
      EMBEDDED_AGENT: 'false',
    };
  }

  private static async boot(config: AppConfig, env: TestEnv | null): Promise<AppHarness> {
    const app = await createApp(config);
    await app.listen(0, '127.0.0.1');
    const address = app.getHttpServer().address() as { port: number };
    return new AppHarness(app, `http://127.0.0.1:${address.port}`, config, env);
  }

  /** The admin key the harness boots with (ADMIN_API_KEY) and sends unless told otherwise. */
  get adminKey(): string {
    return this.config.ADMIN_API_KEY!;
  }

  /** `Authorization: Bearer <key>` for raw fetch calls (the admin key by default; `null`: no header). */
  authHeaders(key: string | null = this.adminKey): Record<string, string> {
    return key === null ? {} : { authorization: `Bearer ${key}` };
  }

  async gql<T = Record<string, unknown>>(
    query: string,
    variables: Record<string, unknown> = {},
    { key = this.adminKey }: AsKey = {},
  ): Promise<GqlResponse<T>> {
    const res = await fetch(`${this.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.authHeaders(key) },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as GqlResponse<T>;
  }

  /** Runs a query that must succeed and returns its data. */
  async data<T = Record<string, unknown>>(
    query: string,
    variables: Record<string, unknown> = {},
    as: AsKey = {},
  ): Promise<T> {
    const res = await this.gql<T>(query, variables, as);
    if (res.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(res.errors)}`);
    return res.data!;
  }

  /** A new API key of this role (created with the admin key); returns the secret. */
  async createKey(
    role: 'ADMIN' | 'OPERATOR' | 'VIEWER' | 'INFERENCE',
    name = `${role.toLowerCase()} key`,
  ): Promise<string> {
    const { createApiKey } = await this.data<{ createApiKey: { key: string } }>(
      'mutation($name: String!, $role: ApiKeyRole!) { createApiKey(name: $name, role: $role) { key } }',
      { name, role },
    );
    return createApiKey.key;
  }

  ws({ key = this.adminKey }: AsKey = {}): Client {
    const client = createClient({
      url: `${this.url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: false,
      connectionParams: key === null ? undefined : { authorization: `Bearer ${key}` },
    });
    this.wsClients.push(client);
    return client;
  }

  /** Subscribes and collects events; `ready` resolves once the server acknowledged the subscription. */
  subscribe<T>(query: string, variables: Record<string, unknown> = {}, as: AsKey = {}): Subscription<T> {
    return new Subscription<T>(this.ws(as), query, variables);
  }

  async stop(): Promise<void> {
    for (const client of this.wsClients) await client.dispose();
    await this.app.close();
    await this.env?.cleanup();
  }
}

export class Subscription<T> {
  readonly events: T[] = [];
  readonly errors: unknown[] = [];
  private waiters: Array<() => void> = [];
  private readonly unsubscribe: () => void;

  constructor(client: Client, query: string, variables: Record<string, unknown>) {
    this.unsubscribe = client.subscribe<T>(
      { query, variables },
      {
        next: (msg) => {
          if (msg.errors) this.errors.push(msg.errors);
          if (msg.data) this.events.push(msg.data);
          this.notify();
        },
        error: (err) => {
          this.errors.push(err);
          this.notify();
        },
        complete: () => this.notify(),
      },
    );
  }

  /** Waits until `count` events arrived (or fails after `timeoutMs`). */
  async waitFor(count: number, timeoutMs = 30_000): Promise<T[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length < count) {
      if (this.errors.length) throw new Error(`Subscription failed: ${JSON.stringify(this.errors)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out waiting for ${count} events; got ${this.events.length}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.events.slice(0, count);
  }

  close(): void {
    this.unsubscribe();
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((w) => w());
  }
}
