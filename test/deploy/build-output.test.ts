import path from 'node:path';
import ts from 'typescript';

/**
 * `npm run build` (tsconfig.build.json) compiled in memory with the same compiler and options: the
 * output production runs (`node dist/src/worker.js`, `node dist/src/api/server.js`) must hold no
 * simulator code, and the entry points' static require() graph must not reach it. The only way to
 * the simulator is the import() of simulation mode in src/runtime/load-simulator.ts.
 */
const ROOT = path.resolve(__dirname, '../..');
const SIMULATOR = '@token-warden/cloudflare-simulator';
const OUT_DIR = path.join(ROOT, 'dist');

function buildInMemory(): Map<string, string> {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    path.join(ROOT, 'tsconfig.build.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
      },
    },
  );
  if (!parsed) throw new Error('tsconfig.build.json did not parse');
  const program = ts.createProgram({ rootNames: parsed.fileNames, options: { ...parsed.options, sourceMap: false } });
  const output = new Map<string, string>();
  const result = program.emit(undefined, (fileName, text) => {
    output.set(path.relative(OUT_DIR, fileName).split(path.sep).join('/'), text);
  });
  const errors = result.diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length) throw new Error(ts.formatDiagnostics(errors, ts.createCompilerHost(parsed.options)));
  return output;
}

/** Specifiers of static `require("…")` calls and of dynamic `import("…")` expressions in emitted CommonJS. */
function specifiers(code: string, kind: 'require' | 'import'): string[] {
  const pattern = kind === 'require' ? /\brequire\((["'])([^"']+)\1\)/g : /\bimport\((["'])([^"']+)\1\)/g;
  return [...code.matchAll(pattern)].map((match) => match[2]!);
}

/** Every emitted file reachable from `entry` through static requires, and every bare package it requires. */
function staticGraph(output: Map<string, string>, entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [entry];
  while (pending.length) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    const code = output.get(file);
    if (code === undefined) throw new Error(`${file} is required but was not emitted`);
    files.add(file);
    for (const specifier of specifiers(code, 'require')) {
      if (!specifier.startsWith('.')) {
        packages.add(specifier);
        continue;
      }
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
      pending.push(output.has(`${target}.js`) ? `${target}.js` : `${target}/index.js`);
    }
  }
  return { files, packages };
}

describe('the build output', () => {
  let output: Map<string, string>;

  beforeAll(() => {
    output = buildInMemory();
  }, 600_000);

  it('contains no file of the simulator package and no simulator code', () => {
    const emitted = [...output.keys()];
    expect(emitted).toContain('src/worker.js');
    expect(emitted).toContain('src/api/server.js');
    expect(emitted).toContain('scripts/bundle-workflows.js');
    expect(emitted.filter((file) => !file.startsWith('src/') && !file.startsWith('scripts/'))).toEqual([]);
    expect(emitted.filter((file) => file.startsWith('scripts/'))).toEqual(['scripts/bundle-workflows.js']);
    // Strings that exist only in the simulator's sources: its app builder and its admin route prefix.
    const withSimulatorCode = emitted.filter((file) => /buildSimulatorApp|['"`]\/__sim\b/.test(output.get(file)!));
    expect(withSimulatorCode).toEqual([]);
  });

  it.each(['src/worker.js', 'src/api/server.js', 'src/main.js'])(
    '%s does not reach the simulator through static requires',
    (entry) => {
      const { files, packages } = staticGraph(output, entry);
      expect([...packages].filter((name) => name.includes('simulator'))).toEqual([]);
      expect([...files].filter((file) => !file.startsWith('src/'))).toEqual([]);
      // Not vacuous: each entry point reaches the Cloudflare client code it runs with.
      expect(files).toContain('src/cloudflare/budgeted-clients.js');
    },
  );

  it('names the simulator only in the import() of simulation mode', () => {
    const mentions = [...output].filter(([, code]) => code.includes(SIMULATOR)).map(([file]) => file);
    expect(mentions).toEqual(['src/runtime/load-simulator.js']);
    const loader = output.get('src/runtime/load-simulator.js')!;
    expect(specifiers(loader, 'import')).toEqual([SIMULATOR]);
    expect(specifiers(loader, 'require')).toEqual([]);
    // `npm start` reaches that loader; the worker process does too, but only calls it without CLOUDFLARE_API_TOKEN.
    expect(staticGraph(output, 'src/main.js').files).toContain('src/runtime/load-simulator.js');
  });
});
