/**
 * event-pause as a library. What a Node service needs to run flows in-process, mount the control
 * plane in its own Fastify app, or test its flows without a broker; internals stay unexported.
 *
 *   import { loadSettings, KafkaEngine, eventPauseApp, FlowTestDriver } from '@event-pause/backend';
 */
export { ConfigError, loadSettings, parseFlowsFile } from './config/config.ts';
export type { FlowDefinition, FlowTopics, ProcessingGuarantee, RuntimeSettings, Settings } from './config/config.ts';

export { KafkaEngine, type KafkaEngineOptions } from './engines/kafka/kafka-engine.ts';
export { KafkaStartupError } from './engines/stream/topics.ts';
export { EmbeddedEngine, type EmbeddedEngineOptions } from './engines/embedded/embedded-engine.ts';
export type { EngineEvent, EngineInfo, FlowEngine, ProcessorFactory, StoredRecord } from './runtime/engine.ts';

export { buildApp, eventPauseApp, type AppOptions, type EventPauseAppOptions } from './api/app.ts';

export { PauseAwareProcessor, type PauseAwareOptions } from './processor/pause-aware-processor.ts';
export type { BufferedEvent, DeadLetterReason, Header, InputRecord, KeyStatus, OutputRecord, Processor, ProcessorContext } from './runtime/ports.ts';
export { decodeEvent, encodeEvent, encodeStatus, HEADERS, RESUME_COMMAND, type Event } from './model/wire.ts';
export { partitionForKey } from './runtime/partitioner.ts';

export { FlowTestDriver, type DeadLetterRecord, type DriverRecord, type FlowTestDriverOptions } from './testing/test-driver.ts';

export { createEventPause, NotLocalError, type EventPause, type EventPauseOptions, type FlowOptions, type HeldEvent, type KeySearch, type KeyStatusInfo } from './library.ts';
export type { KeyHit, KeySort } from './api/key-search.ts';
