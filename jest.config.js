/** Unit tests touch no network; integration tests start real servers on 127.0.0.1. */

// The AWS SDK's notice about Node 20 speaks to SDK developers; keep it out of test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const common = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  // @middy/core is ESM-only: let ts-jest transform it.
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { isolatedModules: true }],
    '^.+\\.m?js$': ['ts-jest', { isolatedModules: true }],
  },
  transformIgnorePatterns: ['node_modules/(?!(@middy)/)'],
  // Its package.json offers only an "import" entry, which jest's CommonJS resolver skips.
  moduleNameMapper: { '^@middy/(core|util)$': '<rootDir>/node_modules/@middy/$1/index.js' },
  // Tests run bin/promvault.js as a user would: bundle the current sources first.
  globalSetup: '<rootDir>/scripts/build-cli.js',
};

module.exports = {
  // Integration suites share 2 cores with the servers they start: run files one at a time.
  maxWorkers: 1,
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/integration/setup.ts'],
    },
  ],
};
