/**
 * The shared SEMANTICS.md scenario suite on the real broker (instances are child processes).
 */
import { defineScenarios } from '../scenarios/scenarios.ts';
import { kafkaHarnessFactory } from './kafka-harness.ts';

defineScenarios('kafka', kafkaHarnessFactory);
