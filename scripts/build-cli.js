#!/usr/bin/env node
/**
 * Bundles the command line into dist/promvault.js (run by `npm run build`, which `prepare` runs on
 * `npm ci`), so `promvault` starts without compiling TypeScript. ESM-only packages (@middy/core)
 * become CommonJS here. The CDK and the Step Functions interpreter stay external: they are
 * dependencies loaded only by `run --local`, and aws-cdk-lib finds its own files beside it.
 */
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.resolve(__dirname, '..');
/** Packages resolved from node_modules at run time instead of bundled. */
const EXTERNAL = [
  'aws-cdk-lib',
  'aws-cdk-lib/*',
  'constructs',
  'cdk-nag',
  'aws-local-stepfunctions',
  // Native; the code falls back to snappyjs when it is absent.
  'snappy',
];

async function build() {
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: ['cli/main.ts'],
    outfile: 'dist/promvault.js',
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: EXTERNAL,
    // Error class names are what users and Step Functions Catch see: keep them.
    keepNames: true,
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'linked',
    logLevel: 'warning',
  });
}

// Also jest's globalSetup: the tests run bin/promvault.js against the current sources.
module.exports = build;

if (require.main === module)
  build().catch((err) => {
    console.error(`promvault build failed: ${err.message}`);
    process.exit(1);
  });
