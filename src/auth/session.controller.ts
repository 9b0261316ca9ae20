import { Body, Controller, Delete, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiKeyRole } from './api-key-role.js';
import { Public } from './auth-policy.js';
import { AuthError, AuthErrorReason } from './auth.errors.js';
import { AuthService } from './auth.service.js';
import { cookieValue } from './credentials.js';
import { SESSION_COOKIE } from './key-material.js';
import type { Principal } from './principal.js';
import { RequireRole } from './require-role.decorator.js';
import { SessionsService } from './sessions.service.js';

interface SessionBody {
  keyId: string | null;
  name: string;
  role: ApiKeyRole;
}

/**
 * The dashboard's sign-in: an API key in, an HttpOnly SameSite=Strict cookie out, so the key never sits in the
 * browser's storage where a script could read it.
 */
@Controller('api/session')
export class SessionController {
  constructor(
    private readonly sessions: SessionsService,
    private readonly auth: AuthService,
  ) {}

  /** `{ "key": "<api key>" }` → who it is, and the session cookie. */
  @Post()
  @HttpCode(200)
  @Public()
  async open(
    @Body() body: unknown,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<SessionBody> {
    const key = typeof body === 'object' && body !== null ? (body as { key?: unknown }).key : undefined;
    if (typeof key !== 'string' || !key.trim()) {
      throw new AuthError(AuthErrorReason.KEY_MISSING, 'Send JSON { "key": "<api key>" } to sign in');
    }
    const session = await this.sessions.open(key.trim());
    res.cookie(SESSION_COOKIE, session.token, {
      httpOnly: true,
      sameSite: 'strict',
      path: '/',
      secure: req.secure,
      expires: session.expiresAt,
    });
    return toBody(session.principal);
  }

  /** Who the session (or Bearer key) is; 401 when signed out. */
  @Get()
  @RequireRole(ApiKeyRole.VIEWER)
  async current(@Req() req: Request): Promise<SessionBody> {
    return toBody(await this.auth.principalFor(req));
  }

  /** Signs out: the session ends on every replica and the cookie is cleared. */
  @Delete()
  @HttpCode(204)
  @Public()
  async close(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<void> {
    const token = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (token) await this.sessions.close(token);
    res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', path: '/', secure: req.secure });
  }
}

function toBody(principal: Principal): SessionBody {
  return { keyId: principal.keyId, name: principal.name, role: principal.role };
}
