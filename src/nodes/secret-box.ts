import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { NodesError, NodesErrorReason } from './nodes.errors.js';

const VERSION = 'v1';
const KEY_BYTES = 32;

/**
 * Secrets the control plane must use again later (the agents' control tokens, a generated join token) are stored
 * sealed: AES-256-GCM with a key that never enters the database, read from SECRETS_KEY_FILE (created at first start,
 * owner-only). A database dump alone reveals none of them. Replicas on several hosts share the same file.
 */
@Injectable()
export class SecretBox {
  private readonly logger = new Logger(SecretBox.name);
  private key: Promise<Buffer> | null = null;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  get keyPath(): string {
    return resolve(this.config.SECRETS_KEY_FILE);
  }

  /** `purpose` is bound to the ciphertext (AAD): a sealed control token cannot be passed off as a join token. */
  async seal(plain: string, purpose: string): Promise<string> {
    const key = await this.loadKey();
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(purpose));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return [VERSION, iv, cipher.getAuthTag(), body]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join('.');
  }

  async open(sealed: string, purpose: string): Promise<string> {
    const key = await this.loadKey();
    const [version, iv, tag, body] = sealed.split('.');
    try {
      if (version !== VERSION || !iv || !tag || body === undefined) throw new Error('not a sealed secret');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(purpose));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new NodesError(
        NodesErrorReason.SECRET_UNREADABLE,
        `A stored ${purpose} cannot be opened with the key in ${this.keyPath}: it was sealed with another key ` +
          '(SECRETS_KEY_FILE must be the same file on every replica and survive restarts)',
        { purpose },
      );
    }
  }

  private loadKey(): Promise<Buffer> {
    this.key ??= this.readOrCreateKey().catch((err: unknown) => {
      this.key = null;
      throw err;
    });
    return this.key;
  }

  /** Exclusive create, so control planes starting together on one host end up with the same key. */
  private async readOrCreateKey(): Promise<Buffer> {
    const path = this.keyPath;
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        const text = (await readFile(path, 'utf8')).trim();
        if (text) {
          const key = Buffer.from(text, 'base64url');
          if (key.length !== KEY_BYTES) {
            throw new Error(
              `${path} (SECRETS_KEY_FILE) must hold ${KEY_BYTES} bytes in base64url; it holds ${key.length}`,
            );
          }
          return key;
        }
        // Empty: another process created it a moment ago and is writing it.
        await new Promise((r) => setTimeout(r, 20));
        continue;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      try {
        const handle = await open(path, 'wx', 0o600);
        const key = randomBytes(KEY_BYTES);
        try {
          await handle.writeFile(`${key.toString('base64url')}\n`);
        } finally {
          await handle.close();
        }
        this.logger.warn(
          `Created the key that seals stored secrets (control tokens, the join token) in ${path} (owner-only). ` +
            'Keep it: without it, nodes must re-join and a generated join token must be rotated.',
        );
        return key;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    throw new Error(`${path} (SECRETS_KEY_FILE) stayed empty`);
  }
}
