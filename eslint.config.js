// Lint configuration: type-aware typescript-eslint rules over every package.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { provmlPlugin } from './eslint/packageBoundaries.mjs';

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      '.cache/**',
      '.data/**',
      'test-output/**',
      '**/*.js',
      '!query-api/src/dashboard/public/*.js',
      '**/*.py',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    // package boundaries: other packages only through their declared roots (docs/ARCHITECTURE.md)
    files: ['**/*.ts', '**/*.mjs'],
    plugins: { provml: provmlPlugin },
    rules: { 'provml/package-boundaries': 'error' },
  },
  {
    // plain-JavaScript worker entry points (started by node:worker_threads without a TS loader)
    files: ['**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    // the dashboard's browser modules: plain ES modules with JSDoc types (their own tsconfig checks them)
    files: ['query-api/src/dashboard/public/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        ['window', 'document', 'fetch', 'EventSource', 'URLSearchParams', 'requestAnimationFrame']
          .concat(['getComputedStyle', 'ResizeObserver', 'setTimeout', 'clearTimeout', 'setInterval'])
          .map((name) => [name, 'readonly']),
      ),
    },
  },
  {
    files: [
      '**/cli/**/*.ts',
      'capture-agent/agent/src/agentMain.ts',
      'service/src/serviceCommand.ts',
      'bench/**/*.ts',
      '**/examples/**/*.ts',
      '**/*.test.ts',
      '**/test/**/*.ts',
    ],
    rules: { 'no-console': 'off' },
  },
  {
    // expect.any()/arrayContaining() are typed any; tests may pass them around
    files: ['**/*.test.ts', '**/test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
);
