// The registry this project installs from serves only the platform packages of this machine
// kind, so `npm install` leaves the other platforms' optional binaries (swc, jest's resolver)
// out of package-lock.json, and `npm ci` then refuses the lock as out of sync. This adds an
// entry for each missing optional dependency, marked with its os/cpu so npm skips it without
// fetching. Run after any `npm install` that rewrites the lock: `node scripts/complete-lockfile.mjs`.
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const packages = lock.packages;
let added = 0;
for (const [key, entry] of Object.entries(packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const nested = key ? `${key}/node_modules/${name}` : `node_modules/${name}`;
    const hoisted = `node_modules/${name}`;
    if (packages[nested] || packages[hoisted]) continue;
    const os = /-(darwin|win32|linux|freebsd|android|openharmony|sunos|aix|netbsd|openbsd)-/.exec(name)?.[1];
    const cpu = /-(arm64|x64|ia32|arm|ppc64|s390x|riscv64|loong64|wasm32)(-|$)/.exec(name)?.[1];
    if (!os || !cpu) continue; // not a platform binary: leave it for npm to report
    packages[hoisted] = { version, ...(entry.dev ? { dev: true } : {}), optional: true, os: [os], cpu: [cpu] };
    added++;
  }
}
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lockfile: ${added} platform entr${added === 1 ? 'y' : 'ies'} added`);
