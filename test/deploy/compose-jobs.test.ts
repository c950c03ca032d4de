import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { readFileSync } from 'node:fs';
import { Client } from 'pg';
import { parse } from 'yaml';
import { resolveTemporalCli } from '../../src/temporal/cli-binary';
import { temporalSqlTool } from './validators';

/*
 * docker-compose.yml's one-shot jobs are shell scripts run by the temporalio/admin-tools image.
 * Here they run with the same programs (the `temporal` CLI) against the suite's real Temporal
 * dev server, as `docker compose up` runs them on every start: the first run does the work, the
 * second finds it done.
 */

const root = path.resolve(__dirname, '../..');

async function temporalCliDir(): Promise<string> {
  const cli = await resolveTemporalCli({ explicitPath: process.env.TEMPORAL_CLI_PATH });
  if (cli.type !== 'path') throw new Error('these tests need the temporal CLI (bash .ci/run builds it)');
  return path.dirname(cli.path);
}

function runJob(script: string, env: Record<string, string>, cliDir: string) {
  const result = spawnSync('sh', [path.join(root, 'deploy/compose', script)], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { PATH: `${cliDir}${path.delimiter}${process.env.PATH ?? ''}`, HOME: process.env.HOME ?? '/tmp', ...env },
  });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('deploy/compose/temporal-namespace.sh', () => {
  it('creates the namespace once Temporal serves, and finds it there on the next start', async () => {
    const cliDir = await temporalCliDir();
    const namespace = `tw-compose-${randomBytes(4).toString('hex')}`;
    const env = { TEMPORAL_ADDRESS: process.env.TEST_TEMPORAL_ADDRESS!, TEMPORAL_NAMESPACE: namespace };

    const first = runJob('temporal-namespace.sh', env, cliDir);
    expect(first.status).toBe(0);
    const connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    try {
      const described = await connection.workflowService.describeNamespace({ namespace });
      expect(described.namespaceInfo?.name).toBe(namespace);
      // 30 days unless TEMPORAL_NAMESPACE_RETENTION says otherwise.
      expect(Number(described.config?.workflowExecutionRetentionTtl?.seconds)).toBe(30 * 24 * 3600);
    } finally {
      await connection.close();
    }

    const second = runJob('temporal-namespace.sh', env, cliDir);
    expect(second).toEqual({ status: 0, output: expect.stringContaining(`namespace ${namespace} exists`) });
  });

  it('fails, naming what is missing, when it is not told which namespace', async () => {
    const result = runJob(
      'temporal-namespace.sh',
      { TEMPORAL_ADDRESS: process.env.TEST_TEMPORAL_ADDRESS! },
      await temporalCliDir(),
    );
    expect(result.status).not.toBe(0);
    expect(result.output).toMatch(/TEMPORAL_NAMESPACE/);
  });
});

describe('deploy/compose/temporal-schema.sh', () => {
  const server = new URL(process.env.TEST_DATABASE_URL!);
  const suffix = randomBytes(4).toString('hex');
  const names = { DBNAME: `tw_temporal_${suffix}`, VISIBILITY_DBNAME: `tw_visibility_${suffix}` };
  const env = {
    SQL_PLUGIN: 'postgres12',
    SQL_HOST: server.hostname,
    SQL_PORT: server.port,
    SQL_USER: decodeURIComponent(server.username),
    SQL_PASSWORD: decodeURIComponent(server.password),
    ...names,
  };
  const query = async (database: string, sql: string) => {
    const client = new Client({ connectionString: Object.assign(new URL(server), { pathname: `/${database}` }).href });
    await client.connect();
    try {
      return (await client.query<Record<string, string>>(sql)).rows;
    } finally {
      await client.end();
    }
  };
  afterAll(async () => {
    for (const database of Object.values(names)) await query('postgres', `DROP DATABASE IF EXISTS ${database}`);
  });

  it('uses the schema tool of the version the compose file runs', () => {
    const install = readFileSync(path.join(root, 'tools/deploy-validators/install.sh'), 'utf8');
    const tool = /^TEMPORAL_SERVER_VERSION=v(\S+)$/m.exec(install)?.[1];
    const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8')) as {
      services: Record<string, { image?: string }>;
    };
    expect(compose.services.temporal?.image).toBe(`temporalio/server:${tool}`);
    expect(compose.services['temporal-schema']?.image).toBe(`temporalio/admin-tools:${tool}`);
  });

  it("creates Temporal's two databases with their schemas, and a second run changes nothing", async () => {
    const binDir = path.dirname(temporalSqlTool());
    const first = runJob('temporal-schema.sh', env, binDir);
    expect(first.output).toContain('Temporal schemas are up to date');
    expect(first.status).toBe(0);
    const versions = async () => ({
      temporal: (await query(names.DBNAME, 'SELECT curr_version FROM schema_version'))[0]?.curr_version,
      visibility: (await query(names.VISIBILITY_DBNAME, 'SELECT curr_version FROM schema_version'))[0]?.curr_version,
    });
    const after = await versions();
    expect(after.temporal).toMatch(/^1\.\d+$/);
    expect(after.visibility).toMatch(/^1\.\d+$/);
    // The tables temporalio/server reads at start-up are there.
    const tables = async (database: string) =>
      (await query(database, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).map(
        (row) => row.tablename,
      );
    expect(await tables(names.DBNAME)).toEqual(
      expect.arrayContaining(['namespaces', 'executions', 'cluster_metadata_info']),
    );
    expect(await tables(names.VISIBILITY_DBNAME)).toContain('executions_visibility');

    const second = runJob('temporal-schema.sh', env, binDir);
    expect(second.status).toBe(0);
    expect(await versions()).toEqual(after);
  });

  it('fails when Postgres refuses the credentials, and creates nothing', async () => {
    const result = runJob(
      'temporal-schema.sh',
      { ...env, SQL_USER: 'nobody', DBNAME: `tw_refused_${suffix}` },
      path.dirname(temporalSqlTool()),
    );
    expect(result.status).not.toBe(0);
    const databases = (await query('postgres', 'SELECT datname FROM pg_database')).map((row) => row.datname);
    expect(databases).not.toContain(`tw_refused_${suffix}`);
  });
});
