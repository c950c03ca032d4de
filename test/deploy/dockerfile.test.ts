import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { composeValidate, run } from './validators';

/*
 * No Docker engine runs here: the Dockerfile is read for what each stage does, and the build
 * context is listed by Docker's own .dockerignore matcher (compose-validate -build-context).
 */

const root = path.resolve(__dirname, '../..');

describe('Dockerfile and .dockerignore', () => {
  const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const stageStarts = instructions.flatMap((line, i) => (line.startsWith('FROM ') ? [i] : []));
  const stages = stageStarts.map((start, i) => instructions.slice(start, stageStarts[i + 1]));
  const runtime = stages.at(-1)!;

  it('builds on a pinned Node 22 LTS or later', () => {
    const image = /^ARG NODE_IMAGE=node:(\d+)\.(\d+)\.(\d+)-[a-z]+-slim$/m.exec(dockerfile);
    expect(image).not.toBeNull();
    expect(Number(image![1])).toBeGreaterThanOrEqual(22);
    expect(Number(image![1]) % 2).toBe(0); // even majors are the LTS lines
    expect(stages.map((stage) => stage[0])).toEqual(['FROM ${NODE_IMAGE} AS build', 'FROM ${NODE_IMAGE} AS runtime']);
  });

  it('gives the runtime stage production dependencies and the build output only, run as a non-root user', () => {
    expect(runtime).toContain(
      'RUN npm ci --omit=dev --omit=optional --workspaces=false --no-audit --no-fund && npm cache clean --force',
    );
    const copies = runtime.filter((line) => line.startsWith('COPY '));
    expect(copies).toEqual([
      'COPY package.json package-lock.json ./',
      'COPY --from=build /app/dist/src ./dist/src',
      'COPY --from=build /app/dist/workflow-bundle.js ./dist/workflow-bundle.js',
      'COPY migrations ./migrations',
    ]);
    expect(runtime).toContain('USER node');
    expect(runtime).toContain('ENV NODE_ENV=production');
    expect(stages[0]).toContain('RUN npm ci --no-audit --no-fund && npm run build');
  });

  /** The files `docker build <dir>` sends, by Docker's own .dockerignore matcher (moby/patternmatcher). */
  function buildContext(dir: string): string[] {
    const result = run(composeValidate(), ['-build-context', dir]);
    expect(result.stderr).toBe('');
    return (JSON.parse(result.stdout) as string[]).sort();
  }
  /** A checkout after `npm start`, a build and a test run, with the repository's .dockerignore or another. */
  function checkout(dockerignore: string): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tw-context-'));
    const files = [
      ...KEPT,
      '.data/dev.key',
      '.data/client-token',
      '.env',
      '.git/config',
      'node_modules/pg/package.json',
      'packages/cloudflare-simulator/node_modules/x/index.js',
      'dist/src/worker.js',
      'coverage/lcov.info',
      '.hypothesis/examples/1',
      'token-warden.yaml',
      'test/deploy/docker-compose.test.ts',
      'worker.log',
    ];
    for (const file of files) {
      mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      writeFileSync(path.join(dir, file), 'x');
    }
    writeFileSync(path.join(dir, '.dockerignore'), dockerignore);
    return dir;
  }
  const KEPT = [
    'package.json',
    'package-lock.json',
    'tsconfig.json',
    'tsconfig.build.json',
    'src/worker.ts',
    'scripts/bundle-workflows.ts',
    'migrations/1732330000000_initial-schema.sql',
    'packages/cloudflare-simulator/package.json',
    'packages/cloudflare-simulator/src/index.ts',
  ];
  const dockerignore = readFileSync(path.join(root, '.dockerignore'), 'utf8');
  const checkouts: string[] = [];
  afterAll(() => checkouts.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  it('sends the build what it compiles, and never .data, .env, node_modules, dist, .git or test artifacts', () => {
    const dir = checkout(dockerignore);
    checkouts.push(dir);
    expect(buildContext(dir)).toEqual([...KEPT].sort());
  });

  it('would send the local key and token in a copy whose .dockerignore lacks .data', () => {
    const lines = dockerignore.split('\n');
    expect(lines).toContain('.data');
    const dir = checkout(lines.filter((line) => line !== '.data').join('\n'));
    checkouts.push(dir);
    expect(buildContext(dir)).toEqual([...KEPT, '.data/client-token', '.data/dev.key'].sort());
  });

  it('sends every source file of this checkout, and nothing of its local state', () => {
    const sent = buildContext(root);
    expect(sent).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'src/worker.ts']));
    for (const migration of readdirSync(path.join(root, 'migrations')))
      expect(sent).toContain(`migrations/${migration}`);
    const leaked = sent.filter((file) =>
      /^(\.data|\.git|node_modules|dist|coverage|\.hypothesis|test)(\/|$)/.test(file),
    );
    expect(leaked).toEqual([]);
  });
});
