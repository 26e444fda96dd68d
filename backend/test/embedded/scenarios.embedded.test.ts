/**
 * The scenario suite (the one that runs on real Kafka, scenarios.kafka.test.ts) on the embedded
 * engine's runtime: the stream runtime over the in-memory log, no broker, virtual time.
 */
import { memoryHarness } from '../runtime/memory-harness.ts';
import { defineScenarios } from '../scenarios/scenarios.ts';

defineScenarios('the embedded engine (stream runtime over the in-memory log)', memoryHarness());
