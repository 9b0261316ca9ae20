/** The messages between the model probe and its child process (JSON over the fork IPC channel). */

export interface ProbeRequest {
  modelPath: string;
  gpu: 'auto' | false;
  contextSize: number;
}

export type ProbeStage = 'init' | 'load' | 'context';

export type ProbeChildMessage =
  | { type: 'log'; level: string; message: string }
  | { type: 'loaded'; loadMs: number; vramBytes: number | null }
  | { type: 'failed'; stage: ProbeStage; errorName: string; errorCode: string | null; message: string };
