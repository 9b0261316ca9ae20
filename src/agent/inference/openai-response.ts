import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';

export type FinishReason = 'stop' | 'length';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** The fields every completion object and chunk of one answer share. */
export interface CompletionIdentity {
  id: string;
  created: number;
  model: string;
}

export function completionIdentity(modelId: string): CompletionIdentity {
  return {
    id: `chatcmpl-${randomUUID().replaceAll('-', '')}`,
    created: Math.floor(Date.now() / 1000),
    model: modelId,
  };
}

export function usage(promptTokens: number, completionTokens: number): Usage {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}

export function chatCompletion(identity: CompletionIdentity, content: string, finish: FinishReason, used: Usage) {
  return {
    ...identity,
    object: 'chat.completion' as const,
    choices: [{ index: 0, message: { role: 'assistant' as const, content }, finish_reason: finish }],
    usage: used,
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** An OpenAI `chat.completion.chunk` event stream on a response. */
export class ChatCompletionStream {
  constructor(
    private readonly res: ServerResponse,
    private readonly identity: CompletionIdentity,
  ) {}

  open(): void {
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      // Reverse proxies (nginx) would otherwise buffer the tokens.
      'x-accel-buffering': 'no',
    });
    this.res.flushHeaders();
    this.chunk({ role: 'assistant', content: '' }, null);
  }

  content(text: string): void {
    if (text !== '') this.chunk({ content: text }, null);
  }

  finish(reason: FinishReason, used: Usage | null): void {
    this.chunk({}, reason);
    if (used) this.event({ ...this.identity, object: 'chat.completion.chunk', choices: [], usage: used });
    this.send('[DONE]');
    this.res.end();
  }

  /** After the 200 is out an error can only travel in the stream, as OpenAI's API does it. */
  fail(message: string): void {
    this.event({ error: { message, type: 'server_error', param: null, code: null } });
    this.res.end();
  }

  private chunk(delta: { role?: 'assistant'; content?: string }, finish: FinishReason | null): void {
    this.event({
      ...this.identity,
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
  }

  private event(body: unknown): void {
    this.send(JSON.stringify(body));
  }

  private send(data: string): void {
    if (!this.res.writableEnded && !this.res.destroyed) this.res.write(`data: ${data}\n\n`);
  }
}
