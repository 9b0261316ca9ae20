import { Controller, Get, HttpStatus, Inject, Res } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Response } from 'express';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { Public } from '../auth/auth-policy.js';
import { REDIS } from '../events/redis.tokens.js';
import { describePostgresError, describeRedisError } from './dependency-check.js';

type Check = 'up' | 'down';

@Controller('health')
@Public()
export class HealthController {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  /**
   * 200 when Postgres and Redis both answer within a second; 503 otherwise, with which one is down and why in
   * `details` (never a URL or a password).
   */
  @Get()
  async check(@Res() res: Response): Promise<void> {
    const [database, redis] = await Promise.all([
      probe(() => this.dataSource.query('SELECT 1'), describePostgresError),
      // Without a connection the answer is known at once: do not queue a PING behind the reconnection.
      this.redis.status === 'ready'
        ? probe(() => this.redis.ping(), describeRedisError)
        : Promise.resolve({ check: 'down' as const, reason: `not connected (${this.redis.status})` }),
    ]);
    const ok = database.check === 'up' && redis.check === 'up';
    const details = Object.fromEntries(
      Object.entries({ database, redis }).flatMap(([name, r]) => (r.reason ? [[name, r.reason]] : [])),
    );
    res.status(ok ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE).json({
      status: ok ? 'ok' : 'error',
      checks: { database: database.check, redis: redis.check },
      ...(ok ? {} : { details }),
    });
  }
}

async function probe(
  fn: () => Promise<unknown>,
  describe: (err: unknown) => string,
): Promise<{ check: Check; reason: string | null }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('no answer within 1 s')), 1000);
      }),
    ]);
    return { check: 'up', reason: null };
  } catch (err) {
    return { check: 'down', reason: describe(err) };
  } finally {
    clearTimeout(timer);
  }
}
