/** Messages between the agent and its hashing thread (sha256.worker.ts); `id` names one file being hashed. */

export type HashWorkerRequest =
  /** Start hashing `path` from byte 0. */
  | { kind: 'open'; id: number; path: string }
  /** Bytes `[0, upTo)` are written: hash them (a lower value than before is ignored). */
  | { kind: 'advance'; id: number; upTo: number }
  /** The file was truncated to 0: start a new hash. */
  | { kind: 'reset'; id: number }
  /** Hash up to `length` and answer the digest. */
  | { kind: 'digest'; id: number; length: number }
  /** Forget the file. */
  | { kind: 'close'; id: number };

export type HashWorkerReply =
  | { kind: 'digest'; id: number; sha256: string; length: number }
  /** A read failed (`code`: the errno, or ESHORT when the file ended before the asked length). */
  | { kind: 'error'; id: number; code: string; message: string };
