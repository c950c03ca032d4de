import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/paths';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * `npm run fuzz`, short: Schemathesis with every check against the API wired as `npm start`
 * wires it, on this run's Temporal dev server and a fresh database. The 10,000-request run is
 * `npm run fuzz -- --max-examples 250` (README).
 */
describe('fuzz (Schemathesis, a few hundred requests)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('gets no 5xx and fails no check, and /ready answers 200 afterwards', async () => {
    const output = await new Promise<{ code: number | null; text: string }>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', path.join('scripts', 'fuzz.ts'), '--max-examples', '5', '--seed', '1'],
        {
          cwd: PROJECT_ROOT,
          env: {
            ...process.env,
            TEMPORAL_ADDRESS: process.env.TEST_TEMPORAL_ADDRESS,
            DATABASE_URL: db.url,
            TEMPORAL_TASK_QUEUE: `tw-fuzz-${randomBytes(4).toString('hex')}`,
            LOG_LEVEL: 'error',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.once('error', reject);
      child.once('exit', (code) => resolve({ code, text }));
    });
    const passed = output.text.includes('\nfuzz: PASSED\n');
    expect({ code: output.code, passed, output: passed ? '' : output.text.slice(-6000) }).toEqual({
      code: 0,
      passed: true,
      output: '',
    });
    const figures = /^fuzz: \d+ requests[\s\S]*?^fuzz: PASSED$/m.exec(output.text)?.[0] ?? '';
    expect(figures).toMatch(/^fuzz: \d{3,} requests/);
    expect(figures).toContain('  5xx: 0\n');
    expect(figures).toContain('  schemathesis checks: passed\n');
    expect(figures).toContain('  /ready afterwards: 200\n');
  }, 300_000);
});
