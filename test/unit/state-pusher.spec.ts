import { describe, expect, it } from '@jest/globals';
import pino from 'pino';
import { StatePusher } from '../../src/agent/state-pusher.js';
import type { AgentLifecycleStatus, AgentModelState } from '../../src/shared/agent-protocol.js';

let version = 0;
const state = (modelId: string, lifecycleStatus: AgentLifecycleStatus, bytesDone = 0): AgentModelState => ({
  modelId,
  lifecycleStatus,
  bytesDone,
  bytesTotal: 100,
  filePath: null,
  errorCode: null,
  errorMessage: null,
  version: ++version,
});

const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('StatePusher', () => {
  it('delivers every lifecycle transition in order, one state per model per report', async () => {
    const reports: AgentModelState[][] = [];
    const pusher = new StatePusher(async (models) => {
      reports.push(models);
      return { ok: true, progressIntervalMs: 50 };
    }, log);
    pusher.push(state('m', 'DOWNLOADING', 10));
    pusher.push(state('m', 'DOWNLOADING', 90));
    pusher.push(state('m', 'LOADING', 100));
    pusher.push(state('m', 'READY', 100));
    pusher.push(state('other', 'DOWNLOADING', 5));
    await pusher.drain();
    for (const report of reports) expect(new Set(report.map((s) => s.modelId)).size).toBe(report.length);
    const ofM = reports.flat().filter((s) => s.modelId === 'm');
    // Progress within one lifecycle collapsed to its latest; every transition kept.
    expect(ofM.map((s) => [s.lifecycleStatus, s.bytesDone])).toEqual([
      ['DOWNLOADING', 90],
      ['LOADING', 100],
      ['READY', 100],
    ]);
  });

  it('sends progress at most once per interval', async () => {
    const sent: number[] = [];
    const pusher = new StatePusher(
      async (models) => {
        sent.push(...models.map((m) => m.bytesDone));
        return { ok: true, progressIntervalMs: 200 };
      },
      log,
      200,
    );
    const started = Date.now();
    pusher.push(state('m', 'DOWNLOADING', 1));
    await sleep(50);
    for (let i = 2; i <= 40; i++) {
      pusher.push(state('m', 'DOWNLOADING', i));
      await sleep(10);
    }
    await sleep(250);
    await pusher.drain();
    // 40 updates, at most one report per 200 ms of however long this took (plus the first), the last one the latest.
    expect(sent.length).toBeLessThanOrEqual(Math.floor((Date.now() - started) / 200) + 1);
    expect(sent.length).toBeLessThan(40);
    expect(sent.at(-1)).toBe(40);
  });

  it('keeps what failed to send and delivers it on the next try', async () => {
    let fail = true;
    const sent: AgentModelState[] = [];
    const pusher = new StatePusher(async (models) => {
      if (fail) throw new Error('control plane down');
      sent.push(...models);
      return { ok: true, progressIntervalMs: 50 };
    }, log);
    pusher.push(state('m', 'DOWNLOADING', 10));
    await sleep(50);
    fail = false;
    pusher.push(state('m', 'LOADING', 100));
    await sleep(1200);
    await pusher.drain();
    expect(sent.map((s) => s.lifecycleStatus)).toEqual(['DOWNLOADING', 'LOADING']);
  });
});
