import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

/** The layers: core is pure; adapters do I/O for the core; handlers, the CLI and CDK sit on top. */
const layerZones = [
  {
    target: './lambdas/core',
    from: ['./lambdas/adapters', './lambdas/handlers', './cli', './cdk', './bin'],
    message:
      'The core is pure: it imports no adapter, handler, CLI or CDK code (pass what it needs in through a port).',
  },
  {
    target: './lambdas/adapters',
    from: ['./lambdas/handlers', './cli', './cdk', './bin'],
    message: 'Adapters serve the core and the handlers; they import no handler, CLI or CDK code.',
  },
];

export default tseslint.config(
  {
    ignores: ['node_modules/**', 'cdk.out/**', 'dist/**', 'vendor/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { files: ['**/*.js', '**/*.cjs', '**/*.mjs'], languageOptions: { globals: globals.node } },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      // Without these, import-x reads only .js files and no-cycle never follows a .ts import.
      'import-x/extensions': ['.ts', '.js', '.cjs', '.mjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      // Packages cannot import our code back: never parse them (no-cycle would read all of them).
      'import-x/ignore': ['node_modules'],
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      'import-x/no-restricted-paths': ['error', { zones: layerZones }],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },
  {
    // The pure core knows nothing of AWS, the environment or sockets.
    files: ['lambdas/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@aws-sdk/*'], message: 'The core is pure: AWS clients live in lambdas/adapters.' },
            { group: ['aws-cdk-lib', 'aws-cdk-lib/*', 'constructs'], message: 'The core is pure: CDK lives in cdk/.' },
            {
              group: ['node:http', 'node:https', 'node:net', 'http', 'https', 'net'],
              message: 'The core opens no sockets.',
            },
          ],
        },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Parse configuration at the edge.' },
      ],
    },
  },
);
