import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { LRUCache } from 'lru-cache';
import { DataSource, Repository } from 'typeorm';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { ApiKeyRole, roleSatisfies } from './api-key-role.js';
import { AuthBus } from './auth-bus.js';
import { AuthError, AuthErrorReason } from './auth.errors.js';
import { ApiKeyEntity } from './entities/api-key.entity.js';
import { digestsEqual, displayPrefix, isApiKeyShaped, newApiKey, sha256Hex } from './key-material.js';
import type { Principal } from './principal.js';
import { isUuid } from '../common/uuid.js';

/**
 * How long a verified key is trusted without asking the database. Revocation evicts it at once on every replica
 * (AuthBus); this only bounds how long a lost Redis message could matter.
 */
const CACHE_TTL_MS = 5000;
/** lastUsedAt is written at most this often per key. */
const TOUCH_INTERVAL_MS = 60_000;
const BOOTSTRAP_LOCK = 'llmfleet:bootstrap-admin-key';

type KeyRecord = Pick<ApiKeyEntity, 'id' | 'name' | 'role' | 'expiresAt' | 'revokedAt' | 'lastUsedAt'>;

export interface NewApiKey {
  name: string;
  role: ApiKeyRole;
  expiresAt?: Date | null;
}

/** API keys: minted once, stored as sha256, verified in constant time, revoked everywhere at once. */
@Injectable()
export class ApiKeysService implements OnApplicationBootstrap {
  private readonly logger = new Logger(ApiKeysService.name);
  private readonly cache = new LRUCache<string, KeyRecord>({ max: 10_000, ttl: CACHE_TTL_MS });
  private readonly bootstrapHash: string | null;

  constructor(
    @InjectRepository(ApiKeyEntity) private readonly keys: Repository<ApiKeyEntity>,
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly bus: AuthBus,
  ) {
    this.bootstrapHash = config.ADMIN_API_KEY ? sha256Hex(config.ADMIN_API_KEY) : null;
    bus.onMessage((message) => {
      if (message.type === 'key-revoked') this.forget(message.keyId);
    });
  }

  /** Who this secret (from a Bearer header or a login) belongs to; a clear AuthError otherwise. */
  async verify(secret: string): Promise<Principal> {
    const hash = sha256Hex(secret);
    if (this.bootstrapHash && digestsEqual(hash, this.bootstrapHash)) return this.bootstrapPrincipal();
    if (!isApiKeyShaped(secret)) {
      throw new AuthError(AuthErrorReason.KEY_MALFORMED, 'This is not an llmfleet API key (keys start with "lf_")');
    }
    return this.verifyHash(hash);
  }

  /** The same check from a key's sha256 (what a dashboard session stands for). */
  async verifyHash(hash: string): Promise<Principal> {
    if (this.bootstrapHash && digestsEqual(hash, this.bootstrapHash)) return this.bootstrapPrincipal();
    let record = this.cache.get(hash);
    if (!record) {
      // The lookup by hash is not constant-time, and need not be: the hash of a 256-bit random key reveals nothing.
      const found = await this.keys.findOne({
        where: { keyHash: hash },
        select: { id: true, name: true, role: true, expiresAt: true, revokedAt: true, lastUsedAt: true, keyHash: true },
      });
      if (!found || !digestsEqual(found.keyHash, hash)) {
        throw new AuthError(AuthErrorReason.KEY_UNKNOWN, 'This API key is not valid');
      }
      record = found;
      if (!found.revokedAt) this.cache.set(hash, record);
    }
    if (record.revokedAt) {
      throw new AuthError(AuthErrorReason.KEY_REVOKED, `API key "${record.name}" was revoked`, { keyId: record.id });
    }
    if (record.expiresAt && record.expiresAt.getTime() <= Date.now()) {
      throw new AuthError(
        AuthErrorReason.KEY_EXPIRED,
        `API key "${record.name}" expired at ${record.expiresAt.toISOString()}`,
        { keyId: record.id },
      );
    }
    this.touch(record);
    return {
      keyId: record.id,
      name: record.name,
      role: record.role,
      expiresAt: record.expiresAt,
      credentialHash: hash,
    };
  }

  async create(caller: Principal, input: NewApiKey): Promise<{ key: string; apiKey: ApiKeyEntity }> {
    const name = input.name.trim();
    if (!name || name.length > 100 || hasControlCharacters(name)) {
      throw new AuthError(
        AuthErrorReason.INVALID_ARGUMENT,
        'name must be 1 to 100 characters without control characters',
        {
          field: 'name',
          value: input.name,
        },
      );
    }
    if (!roleSatisfies(caller.role, input.role)) {
      throw new AuthError(
        AuthErrorReason.ROLE_TOO_LOW,
        `A ${caller.role} key cannot create a ${input.role} key: no key can mint one above its own role`,
        { field: 'role', value: input.role },
      );
    }
    const expiresAt = input.expiresAt ?? null;
    if (expiresAt && expiresAt.getTime() <= Date.now()) {
      throw new AuthError(AuthErrorReason.INVALID_ARGUMENT, 'expiresAt must be in the future', {
        field: 'expiresAt',
        value: expiresAt.toISOString(),
      });
    }
    const key = newApiKey();
    const apiKey = await this.keys.save(
      this.keys.create({
        name,
        role: input.role,
        prefix: displayPrefix(key),
        keyHash: sha256Hex(key),
        createdBy: caller.keyId,
        expiresAt,
        lastUsedAt: null,
        revokedAt: null,
      }),
    );
    return { key, apiKey };
  }

  async list(): Promise<ApiKeyEntity[]> {
    return this.keys.find({ order: { createdAt: 'DESC' } });
  }

  /** Revokes a key (again is a no-op): refused at once here, then on every replica, and its sockets are closed. */
  async revoke(id: string): Promise<ApiKeyEntity> {
    const found = isUuid(id) ? await this.keys.findOneBy({ id }) : null;
    if (!found) {
      throw new AuthError(AuthErrorReason.API_KEY_NOT_FOUND, `No API key with id "${id}"`, { field: 'id', value: id });
    }
    if (!found.revokedAt) {
      await this.keys
        .createQueryBuilder()
        .update(ApiKeyEntity)
        .set({ revokedAt: () => 'now()' })
        .where('id = :id AND revoked_at IS NULL', { id })
        .execute();
    }
    await this.bus.publish({ type: 'key-revoked', keyId: id });
    return this.keys.findOneByOrFail({ id });
  }

  /**
   * First start without ADMIN_API_KEY and without any key: create an admin key, write it to an owner-only file and
   * log where (never the key). Under an advisory lock, so replicas starting together create one.
   */
  async onApplicationBootstrap(): Promise<void> {
    if (this.config.ADMIN_API_KEY) return;
    const path = resolve(this.config.ADMIN_KEY_FILE);
    const created = await this.dataSource.transaction(async (em) => {
      await em.query('SELECT pg_advisory_xact_lock(hashtext($1))', [BOOTSTRAP_LOCK]);
      if ((await em.count(ApiKeyEntity)) > 0) return false;
      const key = newApiKey();
      await em.insert(ApiKeyEntity, {
        name: 'initial admin',
        role: ApiKeyRole.ADMIN,
        prefix: displayPrefix(key),
        keyHash: sha256Hex(key),
        createdBy: null,
      });
      // Written before the commit: a key nobody can read would lock everyone out.
      await writeOwnerOnly(path, `${key}\n`);
      if (process.stdout.isTTY) console.log(`llmfleet: initial admin API key (shown once): ${key}`);
      return true;
    });
    if (created) {
      this.logger.warn(
        `No API key existed: created an admin key and wrote it to ${path} (readable by this user only). ` +
          'Read it, create the keys you need (createApiKey), then delete the file.',
      );
    }
  }

  private bootstrapPrincipal(): Principal {
    return {
      keyId: null,
      name: 'ADMIN_API_KEY',
      role: ApiKeyRole.ADMIN,
      expiresAt: null,
      credentialHash: this.bootstrapHash!,
    };
  }

  private touch(record: KeyRecord): void {
    const now = new Date();
    if (record.lastUsedAt && now.getTime() - record.lastUsedAt.getTime() < TOUCH_INTERVAL_MS) return;
    record.lastUsedAt = now;
    this.keys.update({ id: record.id }, { lastUsedAt: now }).catch((err: unknown) => {
      this.logger.warn(`Could not record lastUsedAt of key ${record.id}: ${(err as Error).message}`);
    });
  }

  private forget(keyId: string): void {
    for (const [hash, record] of this.cache.entries()) {
      if (record.id === keyId) this.cache.delete(hash);
    }
  }
}

async function writeOwnerOnly(path: string, content: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, content, { mode: 0o600 });
  await rename(tmp, path);
}

function hasControlCharacters(value: string): boolean {
  return [...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
}
