import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { GqlExecutionContext } from '@nestjs/graphql';
import { AuthError, AuthErrorReason } from './auth.errors.js';
import { attachedPrincipal, type Principal } from './principal.js';

/** The authenticated caller of a GraphQL resolver (the guard has already put it on the request). */
export const CurrentPrincipal = createParamDecorator((_data: unknown, context: ExecutionContext): Principal => {
  const req =
    context.getType<string>() === 'graphql'
      ? GqlExecutionContext.create(context).getContext<{ req?: object }>().req
      : context.switchToHttp().getRequest<object>();
  const principal = req ? attachedPrincipal(req) : undefined;
  if (!principal) throw new AuthError(AuthErrorReason.KEY_MISSING, 'An API key is required');
  return principal;
});
