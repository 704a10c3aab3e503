// Lint rules from the Temporal TypeScript samples: floating promises are bugs, and workflow code must stay
// deterministic, so Node built-ins (fs, crypto, timers with side effects…) are banned under workflows/.
import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'fs',
  'path',
  'os',
  'child_process',
  'crypto',
  'http',
  'https',
  'net',
  'worker_threads',
  'stream',
  'zlib',
];

export default tseslint.config(
  {
    ignores: [
      'dist*/**',
      'bench/.venv/**',
      'bench/.cache/**',
      'node_modules/**',
      '.tools/**',
      '.funnelcast/**',
      'bench/results/**',
      'eslint.config.mjs',
      'bin/**',
    ],
  },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'off',
      // Comma-sequence accumulators such as (s += v), k++ in tight numeric loops are intentional.
      '@typescript-eslint/no-unused-expressions': ['error', { allowShortCircuit: true, allowTernary: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // node:test's describe/it return promises the runner itself awaits.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['describe', 'it', 'test', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins
            .flatMap((m) => [m, `node:${m}`])
            .map((name) => ({ name, message: 'Workflows must be deterministic: no Node built-ins.' })),
        },
      ],
    },
  },
);
