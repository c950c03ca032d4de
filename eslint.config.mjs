import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.data/', 'coverage/', '*.config.js', '*.config.mjs', 'scripts/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The Cloudflare simulator is a development package: the product names its types only and
    // loads it with import() in simulation mode (src/runtime/load-simulator.ts).
    files: ['src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@token-warden/cloudflare-simulator', '@token-warden/cloudflare-simulator/*', '**/packages/**'],
              allowTypeImports: true,
              message: 'Production code must not load the simulator; see src/runtime/load-simulator.ts.',
            },
          ],
        },
      ],
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no I/O, no Node builtins,
    // and activities only as types (proxyActivities), never as values.
    files: ['src/workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                'node:*',
                'fs',
                'fs/*',
                'path',
                'os',
                'crypto',
                'child_process',
                'net',
                'http',
                'https',
                'dns',
                'worker_threads',
              ],
              message: 'Node builtins are not deterministic; do this in an activity.',
            },
            {
              group: ['pg', 'pino', '@temporalio/client', '@temporalio/worker'],
              message: 'I/O belongs in activities.',
            },
            // The npm package, not the project's src/cloudflare (whose pure modules, like the budget's lanes, are fine).
            { regex: '^cloudflare(/|$)', message: 'I/O belongs in activities.' },
            {
              group: ['../activities', '../activities/*', '**/activities/**'],
              allowTypeImports: true,
              message: 'Import activities type-only and call them through proxyActivities.',
            },
          ],
        },
      ],
      'no-restricted-globals': ['error', 'setTimeout', 'setInterval', 'process', 'fetch'],
    },
  },
  // Layout is Prettier's (npm run format); eslint keeps to correctness.
  prettier,
);
