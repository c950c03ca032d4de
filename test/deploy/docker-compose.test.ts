import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { environmentSchema, parseInventory } from '../../src/config';
import { COMPOSE_FILE, loadCompose, projectSchema, STAND_INS, type Service } from './compose-project';

/*
 * No Docker engine runs here. compose-go, the loader `docker compose` itself is built on, loads
 * the file as `docker compose up` would (schema, ${VARIABLE} interpolation, merge keys, the
 * consistency checks); the tests then read the project it resolved.
 */

const root = path.resolve(__dirname, '../..');

const loaded = loadCompose(COMPOSE_FILE);
const project = loaded.status === 0 ? projectSchema.parse(JSON.parse(loaded.stdout)) : undefined;
const service = (name: string): Service => {
  const found = project?.services[name];
  if (!found) throw new Error(`no service ${name} in docker-compose.yml`);
  return found;
};
const oneShot = (s: Service) => s.restart === 'no';

describe('docker-compose.yml', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tw-compose-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A copy of the compose file with one change made through the YAML document, the rest intact. */
  function brokenCopy(name: string, change: (doc: ReturnType<typeof parseDocument>) => void): string {
    const doc = parseDocument(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true });
    change(doc);
    const file = path.join(dir, name);
    writeFileSync(file, doc.toString());
    return file;
  }

  it('loads in compose-go, as `docker compose up` would load it', () => {
    expect(loaded.stderr).toBe('');
    expect(loaded.status).toBe(0);
    expect(project!.name).toBe('token-warden');
    expect(Object.keys(project!.services).sort()).toEqual([
      'api',
      'postgres',
      'temporal',
      'temporal-namespace',
      'temporal-schema',
      'temporal-ui',
      'worker',
    ]);
  });

  it('rejects a copy where a service depends on a service that does not exist', () => {
    const file = brokenCopy('undefined-dependency.yml', (doc) =>
      doc.setIn(
        ['services', 'api', 'depends_on', 'temporal-frontend'],
        doc.createNode({ condition: 'service_healthy' }),
      ),
    );
    const result = loadCompose(file);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('depends on undefined service "temporal-frontend"');
  });

  it('rejects a copy with a field compose does not know, and one waiting on a condition that does not exist', () => {
    const unknownField = loadCompose(
      brokenCopy('unknown-field.yml', (doc) => doc.setIn(['services', 'worker', 'healthcheck', 'retry'], 3)),
    );
    expect(unknownField.status).toBe(1);
    expect(unknownField.stderr).toMatch(/services\.worker\.healthcheck.*retry/);
    // In the shared block both processes merge: the error names them as they resolved.
    const unknownCondition = loadCompose(
      brokenCopy('unknown-condition.yml', (doc) =>
        doc.setIn(['x-app', 'depends_on', 'temporal-namespace', 'condition'], 'service_completed'),
      ),
    );
    expect(unknownCondition.status).toBe(1);
    expect(unknownCondition.stderr).toMatch(
      /services\.(worker|api)\.depends_on\.temporal-namespace\.condition value must be one of/,
    );
  });

  it('refuses to start without the secrets, naming each missing one', () => {
    const { POSTGRES_PASSWORD: _, ...withoutPassword } = STAND_INS;
    const result = loadCompose(COMPOSE_FILE, withoutPassword);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('required variable POSTGRES_PASSWORD is missing a value');
  });

  it("runs Temporal in today's layout: server, schema job and UI of pinned, matching versions", () => {
    const images = Object.fromEntries(Object.entries(project!.services).map(([name, s]) => [name, s.image ?? '']));
    for (const [name, image] of Object.entries(images)) {
      expect(`${name}: ${image}`).not.toMatch(/auto-setup|:latest$/);
      if (name !== 'worker' && name !== 'api')
        expect(`${name}: ${image}`).toMatch(/^[^:]+: [\w./-]+:\d+\.\d+(\.\d+)?$/);
    }
    const [, serverVersion] = images.temporal!.split(':');
    expect(images.temporal).toMatch(/^temporalio\/server:\d+\.\d+\.\d+$/);
    // The schema job's admin-tools carries the schema of its own version: it must be the server's.
    expect(images['temporal-schema']).toBe(`temporalio/admin-tools:${serverVersion}`);
    expect(images['temporal-namespace']).toBe(`temporalio/admin-tools:${serverVersion}`);
    expect(images['temporal-ui']).toMatch(/^temporalio\/ui:\d+\.\d+\.\d+$/);

    const schemaJob = service('temporal-schema');
    expect(schemaJob.environment).toMatchObject({ SQL_PLUGIN: 'postgres12', SQL_HOST: 'postgres' });
    expect(service('temporal').environment).toMatchObject({
      DB: schemaJob.environment.SQL_PLUGIN,
      POSTGRES_SEEDS: 'postgres',
    });
    const script = readFileSync(path.join(root, 'deploy/compose/temporal-schema.sh'), 'utf8');
    // Both of Temporal's stores, each created if missing and updated to the image's schema version.
    expect(script).toMatch(/^for store in temporal visibility; do$/m);
    for (const step of [
      'create-database',
      'setup-schema -v 0.0',
      'update-schema --schema-name "postgresql/v12/$store"',
    ])
      expect(script).toContain(`temporal-sql-tool --db "$database" ${step}`);
  });

  it('starts each service only once what it needs is healthy, or has finished', () => {
    const needs = (name: string) =>
      Object.fromEntries(Object.entries(service(name).depends_on).map(([on, d]) => [on, d.condition]));
    expect(needs('temporal-schema')).toEqual({ postgres: 'service_healthy' });
    expect(needs('temporal')).toEqual({
      postgres: 'service_healthy',
      'temporal-schema': 'service_completed_successfully',
    });
    expect(needs('temporal-namespace')).toEqual({ temporal: 'service_healthy' });
    expect(needs('temporal-ui')).toEqual({ temporal: 'service_healthy' });
    for (const app of ['worker', 'api'])
      expect(needs(app)).toEqual({
        postgres: 'service_healthy',
        temporal: 'service_healthy',
        'temporal-namespace': 'service_completed_successfully',
      });
    for (const [name, s] of Object.entries(project!.services)) {
      // Every long-running service says when it is healthy; every one-shot runs once.
      if (oneShot(s)) expect(`${name}: ${s.healthcheck?.test?.join(' ') ?? 'none'}`).toBe(`${name}: none`);
      else expect(`${name}: ${s.healthcheck?.test?.[0] ?? 'none'}`).toMatch(new RegExp(`^${name}: CMD(-SHELL)?$`));
      for (const [on, { condition }] of Object.entries(s.depends_on)) {
        expect(`${name} -> ${on}: ${condition}`).not.toMatch(/service_started$/);
        if (condition === 'service_completed_successfully') expect(oneShot(service(on))).toBe(true);
        if (condition === 'service_healthy') expect(service(on).healthcheck?.test).toBeDefined();
      }
    }
  });

  it('publishes ports on 127.0.0.1 only, and Postgres not at all', () => {
    const published = Object.entries(project!.services).flatMap(([name, s]) =>
      s.ports.map((port) => `${name} ${port.host_ip ?? '*'}:${port.published} -> ${port.target}`),
    );
    expect(published.sort()).toEqual([
      'api 127.0.0.1:3000 -> 3000',
      'temporal 127.0.0.1:7233 -> 7233',
      'temporal-ui 127.0.0.1:8233 -> 8080',
    ]);
  });

  it('mounts only files that exist in the repository, the inventory read-only and never created empty', () => {
    const binds = Object.entries(project!.services).flatMap(([name, s]) =>
      s.volumes.filter((volume) => volume.type === 'bind').map((volume) => ({ name, ...volume })),
    );
    expect(binds.length).toBeGreaterThan(0);
    for (const bind of binds) {
      const source = path.resolve(root, bind.source);
      expect(`${bind.name}: ${bind.source} ${existsSync(source) && statSync(source).isFile()}`).toBe(
        `${bind.name}: ${bind.source} true`,
      );
      expect(bind.read_only).toBe(true);
    }
    for (const app of ['worker', 'api']) {
      const s = service(app);
      const inventory = s.volumes.find((volume) => volume.target === s.environment.TOKEN_WARDEN_INVENTORY);
      // A missing source would otherwise become an empty directory, and the process exit with EISDIR.
      expect(inventory?.bind?.create_host_path).toBe(false);
      const env = Object.fromEntries(Object.entries(s.environment).map(([key, value]) => [key, value ?? '']));
      const parsed = parseInventory(
        readFileSync(path.resolve(root, inventory!.source), 'utf8'),
        inventory!.source,
        env,
      );
      expect(parsed.accounts[0]?.id).toBe(STAND_INS.CLOUDFLARE_ACCOUNT_ID);
      expect(parsed.accounts.flatMap((account) => account.serviceTokens).length).toBeGreaterThan(0);
    }
  });

  it('builds one image from the Dockerfile and runs the worker and the API from it, as separate processes', () => {
    const worker = service('worker');
    const api = service('api');
    expect(worker.image).toBe(api.image);
    expect(worker.build).toEqual({ context: '.', dockerfile: 'Dockerfile' });
    expect(api.build).toBeUndefined();
    expect(
      Object.entries(project!.services)
        .filter(([, s]) => s.build)
        .map(([name]) => name),
    ).toEqual(['worker']);
    expect(worker.command).toEqual(['node', 'dist/src/worker.js']);
    expect(api.command).toEqual(['node', 'dist/src/api/server.js']);
    const tsconfig = JSON.parse(readFileSync(path.join(root, 'tsconfig.build.json'), 'utf8')) as {
      compilerOptions: { rootDir: string };
    };
    expect(tsconfig.compilerOptions.rootDir).toBe('.'); // so src/worker.ts builds to dist/src/worker.js
  });

  it('gives both processes what production requires, with names the config knows', () => {
    const known = new Set([
      ...Object.keys(environmentSchema.shape),
      'CLOUDFLARE_ACCOUNT_TOKEN',
      'CLOUDFLARE_USER_TOKEN',
    ]);
    for (const name of ['worker', 'api']) {
      const env = service(name).environment;
      for (const required of [
        'TEMPORAL_ADDRESS',
        'DATABASE_URL',
        'CLOUDFLARE_API_TOKEN',
        'TOKEN_WARDEN_ENCRYPTION_KEY',
        'TOKEN_WARDEN_INVENTORY',
      ])
        expect(env[required]).toBeTruthy();
      for (const key of Object.keys(env)) expect(known).toContain(key);
      expect(env.NODE_ENV).toBe('production');
      expect(env.TEMPORAL_ADDRESS).toBe('temporal:7233');
      expect(env.DATABASE_URL).toBe(
        `postgres://token_warden:${STAND_INS.POSTGRES_PASSWORD}@postgres:5432/token_warden`,
      );
    }
    expect(service('api').environment.CLIENT_AUTH_TOKEN).toBe(STAND_INS.CLIENT_AUTH_TOKEN);
    expect(service('worker').environment).not.toHaveProperty('CLIENT_AUTH_TOKEN');
  });

  it("points the UI's codec at the API's /codec, and the API lets the UI's origin call it", () => {
    const ui = service('temporal-ui');
    const api = service('api');
    const apiPort = api.ports[0]!;
    const uiPort = ui.ports[0]!;
    expect(ui.environment.TEMPORAL_CODEC_ENDPOINT).toBe(`http://${apiPort.host_ip}:${apiPort.published}/codec`);
    expect(api.environment.TEMPORAL_UI_ORIGINS!.split(',')).toContain(`http://${uiPort.host_ip}:${uiPort.published}`);
    expect(api.environment.TEMPORAL_UI_URL).toBe(`http://${uiPort.host_ip}:${uiPort.published}`);
    expect(ui.environment.TEMPORAL_UI_PORT).toBe(String(uiPort.target));
    expect(readFileSync(path.join(root, 'src/api/routes/codec.ts'), 'utf8')).toContain('`/codec/${direction}`');
  });

  it("checks the worker's health with the probe the image builds, and the API's with /ready", () => {
    expect(service('worker').healthcheck?.test).toEqual(['CMD', 'node', 'dist/src/worker-probe.js']);
    expect(existsSync(path.join(root, 'src/worker-probe.ts'))).toBe(true);
    expect(service('api').healthcheck?.test?.join(' ')).toContain("fetch('http://127.0.0.1:3000/ready')");
    expect(service('api').environment.PORT).toBe('3000');
  });
});
