/** The shared ioredis command connection (health checks, sequence numbers). PubSub keeps its own two connections. */
export const REDIS = Symbol('REDIS');
