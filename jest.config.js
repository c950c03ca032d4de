/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test', '<rootDir>/packages'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(ts|js|mjs)$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  // @octokit/* and @kubernetes/client-node ship only ES modules; jest's runtime on Node 20
  // cannot require() them, so they are compiled to CommonJS like our own sources. The workspace
  // packages (@token-warden/*, linked into node_modules) are TypeScript sources.
  transformIgnorePatterns: [
    '/node_modules/(?!(@token-warden|@octokit|@kubernetes/client-node|universal-user-agent|before-after-hook|openid-client|oauth4webapi|jose|jsonpath-plus|jsep|@jsep-plugin|rfc4648|fast-content-type-parse|json-with-bigint|content-type|node-pg-migrate|content-disposition|cookie)/)',
  ],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 60_000,
  maxWorkers: 2,
};
