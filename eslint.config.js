import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**', 'coverage/**', 'reports/**', '.stryker-tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // core must not print: stdout belongs to the CLI layer.
      'no-console': 'off',
    },
  },
  {
    // The launcher (bin/till.cjs) is CommonJS, kept to old syntax: it checks Node's version first.
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', __dirname: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: [
      'src/core/**',
      'src/ssh/**',
      'src/rsync/**',
      'src/ops/**',
      'src/schedule/**',
      'src/metrics/**',
      'src/status/**',
      'src/deploy/**',
      'src/audit/**',
      'src/watch/**',
      'src/gate/**',
      'src/protocol/**',
    ],
    rules: {
      'no-console': 'error',
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'exit', message: 'Only the CLI entry point sets the exit code.' },
        { object: 'process', property: 'stdout', message: 'stdout belongs to the CLI layer.' },
      ],
    },
  },
  {
    // core is the bottom layer: the layers above import it, never the reverse. Only the
    // remote protocol lies below it: a leaf importing nothing (core/validate checks a
    // tekton_path with the protocol's remote-path type, so there is one such check).
    files: ['src/core/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['commander', 'picocolors', 'string-width', 'ora', 'cli-table3'].map((name) => ({
            name,
            message: 'core knows nothing of the CLI, colours or terminals.',
          })),
          patterns: [
            {
              regex:
                '^(\\.\\./)+(audit|cli|deploy|gate|inventory|metrics|ops|remote|rsync|schedule|ssh|status|watch)(/|$)',
              message: 'core must not import from the layers above it: move the type down into core, or the code up.',
            },
          ],
        },
      ],
    },
  },
  {
    // The remote protocol is a leaf: its texts, types and parsers depend on nothing else of till.
    files: ['src/protocol/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '^(?!\\./)', message: 'src/protocol imports only its own modules (./…).' }] },
      ],
    },
  },
);
