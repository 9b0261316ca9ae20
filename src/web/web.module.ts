import { type MiddlewareConsumer, Module, type NestModule, RequestMethod } from '@nestjs/common';
import { WebAssetsMiddleware } from './web-assets.middleware.js';

/** The operator's dashboard (web/, built to dist/web) and GraphiQL, served by the control plane itself. */
@Module({})
export class WebModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(WebAssetsMiddleware).forRoutes({ path: '{*path}', method: RequestMethod.GET });
  }
}
