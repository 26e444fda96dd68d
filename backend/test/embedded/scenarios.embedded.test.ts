import { defineScenarios } from '../scenarios/scenarios.ts';
import { embeddedHarness } from './embedded-harness.ts';

defineScenarios('the embedded engine', embeddedHarness());
