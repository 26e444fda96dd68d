import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Imports point one way: model <- processor <- runtime ports <- stores, engines <- api; frontend apart. */
const restrict = (patterns, message) => ['error', { patterns: [{ group: patterns, message }] }];

export default tseslint.config(
  { ignores: ['**/node_modules/**', '.cache/**', '.data/**', 'frontend/dist/**', 'frontend/.angular/**', 'backend/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['backend/**/*.ts', 'examples/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['backend/src/model/**/*.ts'],
    rules: { 'no-restricted-imports': restrict(['../*', '../**'], 'model/ is the bottom layer: it imports nothing of the service') },
  },
  {
    files: ['backend/src/processor/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict(
        ['../engines/**', '../stores/**', '../api/**', '../testing/**', '../config/**', '../runtime/*', '!../runtime/ports.ts'],
        'the processor knows model/ and the runtime ports (ProcessorContext) only',
      ),
    },
  },
  {
    files: ['backend/src/runtime/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict(
        ['../engines/**', '../stores/**', '../api/**', '../processor/**', '../testing/**'],
        'the runtime is below its adapters (engines, stores), the processor and the API',
      ),
    },
  },
  {
    files: ['backend/src/stores/**/*.ts'],
    rules: { 'no-restricted-imports': restrict(['../engines/**', '../api/**', '../processor/**', '../testing/**'], 'stores implement runtime ports only') },
  },
  {
    files: ['backend/src/engines/**/*.ts'],
    rules: { 'no-restricted-imports': restrict(['../../api/**', '../../testing/**', '../api/**'], 'engines are below the API') },
  },
  {
    files: ['backend/src/api/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict(
        ['../engines/**', '../../engines/**', '../stores/**', '../../stores/**', '../processor/**', '../../processor/**'],
        'the API talks to the FlowEngine port, not to an engine, a store or the processor',
      ),
    },
  },
  {
    // The runtime's loop reads the time and waits through its Clock port only, so the simulation
    // can run it on virtual time (issue 9).
    files: ['backend/src/engines/stream/flow-member.ts', 'backend/src/engines/stream/flow-tasks.ts', 'backend/src/engines/stream/status-follower.ts', 'backend/src/engines/stream/reader.ts'],
    rules: {
      'no-restricted-globals': ['error', { name: 'setTimeout', message: 'use the Clock port (clock.sleep)' }, { name: 'setInterval', message: 'use the Clock port' }],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'use the Clock port (clock.now())' },
        { object: 'performance', property: 'now', message: 'use the Clock port (clock.now())' },
      ],
    },
  },
  {
    files: ['frontend/src/**/*.ts'],
    languageOptions: { parserOptions: { experimentalDecorators: true } },
    rules: {
      'no-restricted-imports': restrict(['**/backend/**'], 'the dashboard talks to the service over HTTP only'),
      // The dashboard is checked by the Angular compiler; here only the import direction.
      '@typescript-eslint/no-unused-vars': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
