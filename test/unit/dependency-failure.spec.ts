import { describe, expect, it } from '@jest/globals';
import { redactUrl } from '../../src/common/redact-url.js';
import { endpointsOf, failedDependency } from '../../src/health/dependency-failure.js';

const endpoints = endpointsOf('postgres://u:p@db:5433/x', 'redis://cache:6380');
const error = (message: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(message), extra);

describe('failedDependency', () => {
  it('recognises ioredis giving up on a command', () => {
    expect(failedDependency(error('Reached the max retries per request limit (which is 1).'), endpoints)).toBe('redis');
    expect(failedDependency(error('Connection is closed.'), endpoints)).toBe('redis');
    expect(failedDependency(Object.assign(error('x'), { name: 'MaxRetriesPerRequestError' }), endpoints)).toBe('redis');
  });

  it('recognises pg losing its server, directly or wrapped (TypeORM driverError, cause)', () => {
    expect(failedDependency(error('Connection terminated unexpectedly'), endpoints)).toBe('database');
    expect(failedDependency(error('terminating connection', { code: '57P01' }), endpoints)).toBe('database');
    expect(failedDependency(error('query failed', { driverError: error('x', { code: '08006' }) }), endpoints)).toBe(
      'database',
    );
    expect(failedDependency(error('outer', { cause: error('Connection terminated') }), endpoints)).toBe('database');
  });

  it('tells a refused connection by its port, also inside an AggregateError', () => {
    expect(failedDependency(error('refused', { code: 'ECONNREFUSED', port: 5433 }), endpoints)).toBe('database');
    expect(failedDependency(error('refused', { code: 'ECONNREFUSED', port: 6380 }), endpoints)).toBe('redis');
    const both = new AggregateError([error('v6', { code: 'ECONNREFUSED', port: 6380 })], '');
    expect(failedDependency(both, endpoints)).toBe('redis');
  });

  it('leaves other errors alone', () => {
    expect(failedDependency(error('refused', { code: 'ECONNREFUSED', port: 8080 }), endpoints)).toBeNull();
    expect(failedDependency(error('duplicate key', { code: '23505' }), endpoints)).toBeNull();
    expect(failedDependency('a string', endpoints)).toBeNull();
  });
});

describe('redactUrl', () => {
  it('hides the password and keeps the rest', () => {
    expect(redactUrl('postgres://postgres:s3cret@db:5432/llmfleet')).toBe('postgres://postgres:***@db:5432/llmfleet');
    expect(redactUrl('redis://:s3cret@cache:6379')).toBe('redis://:***@cache:6379');
    expect(redactUrl('redis://cache:6379')).toBe('redis://cache:6379');
    expect(redactUrl('not a url')).toBe('(an unparsable URL)');
  });
});
