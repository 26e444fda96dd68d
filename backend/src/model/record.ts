/**
 * The smallest shared vocabulary: a key's status and a record header. Everything else may import
 * it; it imports nothing (lint enforces the direction, see eslint.config.js).
 */

export type KeyStatus = 'ACTIVE' | 'PAUSED';

/** A record header. Kept as an ordered list: Kafka allows repeated keys and keeps their order. */
export interface Header {
  readonly key: string;
  readonly value: Buffer;
}
