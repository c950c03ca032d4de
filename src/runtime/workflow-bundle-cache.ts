import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { PROJECT_ROOT } from '../paths';

const quietBundler = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };
const KEEP = 5;

export const WORKFLOW_BUNDLE_CACHE_DIR = path.join(PROJECT_ROOT, 'node_modules', '.cache', 'token-warden');

/** What a bundle of src/workflows is made of: every source file and the locked dependency versions. */
function sourceHash(): string {
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (/\.(ts|js|json)$/.test(entry.name))
        hash.update(`${path.relative(PROJECT_ROOT, file)}\0`).update(readFileSync(file));
    }
  };
  walk(path.join(PROJECT_ROOT, 'src'));
  const lock = path.join(PROJECT_ROOT, 'package-lock.json');
  if (existsSync(lock)) hash.update(readFileSync(lock));
  return hash.digest('hex').slice(0, 20);
}

function keepNewest(dir: string): void {
  const bundles = readdirSync(dir)
    .filter((name) => name.startsWith('workflow-bundle-') && name.endsWith('.js'))
    .map((name) => ({ file: path.join(dir, name), mtime: statSync(path.join(dir, name)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const { file } of bundles.slice(KEEP)) for (const old of [file, `${file}.map`]) rmSync(old, { force: true });
}

/**
 * src/workflows bundled for the workers of `npm start` and the tests: webpack takes seconds, so a
 * bundle is kept (by the hash of src/ and package-lock.json) and made again only when either changed.
 */
export async function cachedWorkflowBundle(cacheDir = WORKFLOW_BUNDLE_CACHE_DIR): Promise<WorkflowBundleWithSourceMap> {
  const file = path.join(cacheDir, `workflow-bundle-${sourceHash()}.js`);
  if (existsSync(file)) return { code: readFileSync(file, 'utf8'), sourceMap: readFileSync(`${file}.map`, 'utf8') };
  const bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quietBundler });
  try {
    mkdirSync(cacheDir, { recursive: true });
    // Written aside and renamed, the map first: a process that finds the bundle finds it whole.
    for (const [target, content] of [
      [`${file}.map`, bundle.sourceMap],
      [file, bundle.code],
    ] as const) {
      const partial = `${target}.${process.pid}.partial`;
      writeFileSync(partial, content);
      renameSync(partial, target);
    }
    keepNewest(cacheDir);
  } catch {
    // A read-only node_modules: bundle again at the next start.
  }
  return bundle;
}
