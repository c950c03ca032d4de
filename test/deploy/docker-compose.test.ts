import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { environmentSchema } from '../../src/config';

/** No Docker engine runs here: the compose file is checked by shape against the code it starts. */
describe('docker-compose.yml', () => {
  const root = path.resolve(__dirname, '../..');
  const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<
      string,
      { command?: string[]; environment?: Record<string, string>; depends_on?: unknown; build?: string; image?: string }
    >;
  };
  const known = new Set([...Object.keys(environmentSchema.shape), 'CLOUDFLARE_ACCOUNT_TOKEN', 'CLOUDFLARE_USER_TOKEN']);

  it('runs the worker and the API as separate processes from the built entry points', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'postgres', 'temporal', 'temporal-ui', 'worker']);
    expect(compose.services.worker!.command).toEqual(['node', 'dist/src/worker.js']);
    expect(compose.services.api!.command).toEqual(['node', 'dist/src/api/server.js']);
    const tsconfig = JSON.parse(readFileSync(path.join(root, 'tsconfig.build.json'), 'utf8')) as {
      compilerOptions: { rootDir: string };
    };
    expect(tsconfig.compilerOptions.rootDir).toBe('.'); // so src/worker.ts builds to dist/src/worker.js
  });

  it('gives both processes what production requires, with names the config knows', () => {
    for (const name of ['worker', 'api']) {
      const env = compose.services[name]!.environment!;
      for (const required of [
        'TEMPORAL_ADDRESS',
        'DATABASE_URL',
        'CLOUDFLARE_API_TOKEN',
        'TOKEN_WARDEN_ENCRYPTION_KEY',
        'TOKEN_WARDEN_INVENTORY',
      ])
        expect(env).toHaveProperty(required);
      for (const key of Object.keys(env)) expect(known).toContain(key);
    }
    expect(compose.services.api!.environment).toHaveProperty('CLIENT_AUTH_TOKEN');
  });
});
