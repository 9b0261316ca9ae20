import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { DataSource, Repository } from 'typeorm';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { FleetSecretEntity } from './entities/fleet-secret.entity.js';
import { hashToken, newToken, tokenMatches } from './node-tokens.js';
import { NodesError, NodesErrorReason } from './nodes.errors.js';
import { SecretBox } from './secret-box.js';

const JOIN_TOKEN = 'join-token';
const PURPOSE = 'join token';
const BOOTSTRAP_LOCK = 'llmfleet:bootstrap-join-token';

/**
 * The token an agent presents to join the fleet (`X-Llmfleet-Join-Token`). Always required: NODE_JOIN_TOKEN, or one
 * generated at first start. A generated one is stored as its sha256 (what joins are checked against, on every replica,
 * read at each registration so a rotation is seen at once) and sealed with SecretBox (so ADMIN can read it back);
 * never in clear.
 */
@Injectable()
export class JoinTokenService implements OnApplicationBootstrap {
  private readonly logger = new Logger(JoinTokenService.name);
  private readonly configuredHash: string | null;

  constructor(
    @InjectRepository(FleetSecretEntity) private readonly secrets: Repository<FleetSecretEntity>,
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly box: SecretBox,
  ) {
    this.configuredHash = config.NODE_JOIN_TOKEN ? hashToken(config.NODE_JOIN_TOKEN) : null;
  }

  /** First start without NODE_JOIN_TOKEN: generate one (under an advisory lock, so replicas starting together agree). */
  async onApplicationBootstrap(): Promise<void> {
    if (this.config.NODE_JOIN_TOKEN) return;
    const created = await this.dataSource.transaction(async (em) => {
      await em.query('SELECT pg_advisory_xact_lock(hashtext($1))', [BOOTSTRAP_LOCK]);
      if (await em.existsBy(FleetSecretEntity, { name: JOIN_TOKEN })) return null;
      const token = newToken();
      await em.insert(FleetSecretEntity, {
        name: JOIN_TOKEN,
        hash: hashToken(token),
        sealed: await this.box.seal(token, PURPOSE),
      });
      return token;
    });
    if (created) {
      // On a terminal only: a log collector must never receive the token.
      if (process.stdout.isTTY) console.log(`llmfleet: generated join token (agents set NODE_JOIN_TOKEN): ${created}`);
      this.logger.warn(
        'No NODE_JOIN_TOKEN: generated a join token (stored sealed). Read it with `llmfleet join-token` (ADMIN) ' +
          'and give it to agents as NODE_JOIN_TOKEN; rotate it with `llmfleet join-token --rotate`.',
      );
    }
  }

  /** The join token in clear (ADMIN's `joinToken`, the embedded agent). */
  async current(): Promise<string> {
    if (this.config.NODE_JOIN_TOKEN) return this.config.NODE_JOIN_TOKEN;
    const row = await this.secrets.findOneBy({ name: JOIN_TOKEN });
    if (!row) {
      throw new NodesError(NodesErrorReason.SECRET_UNREADABLE, 'No join token exists yet: it is made at first start');
    }
    return this.box.open(row.sealed, PURPOSE);
  }

  /** Whether an agent may join with this token: 401 without one, 403 with a wrong one. */
  async check(presented: string | null): Promise<void> {
    if (!presented) {
      throw new NodesError(
        NodesErrorReason.JOIN_TOKEN_REQUIRED,
        'Joining the fleet requires the join token in X-Llmfleet-Join-Token: set NODE_JOIN_TOKEN on the agent ' +
          '(read it with `llmfleet join-token`)',
      );
    }
    const expected = this.configuredHash ?? (await this.secrets.findOneBy({ name: JOIN_TOKEN }))?.hash ?? null;
    if (!expected || !tokenMatches(presented, expected)) {
      throw new NodesError(
        NodesErrorReason.JOIN_TOKEN_INVALID,
        'The join token is wrong (or was rotated): use the current one (`llmfleet join-token`)',
      );
    }
  }

  /** A new generated token; the old one is refused at once on every replica (they read the hash at each join). */
  async rotate(): Promise<string> {
    if (this.config.NODE_JOIN_TOKEN) {
      throw new NodesError(
        NodesErrorReason.JOIN_TOKEN_CONFIGURED,
        'The join token comes from NODE_JOIN_TOKEN: change that variable on every control plane and agent instead',
      );
    }
    const token = newToken();
    await this.secrets.upsert(
      { name: JOIN_TOKEN, hash: hashToken(token), sealed: await this.box.seal(token, PURPOSE) },
      { conflictPaths: ['name'] },
    );
    this.logger.warn('The join token was rotated: agents that join from now on need the new one');
    return token;
  }
}
