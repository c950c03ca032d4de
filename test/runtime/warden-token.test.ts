import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseEnvironment, parseInventory } from '../../src/config';
import { readSecret } from '../../src/secret-source';
import { checkSelfToken, configuredWardenToken, wardenTokenFromFile } from '../../src/runtime/warden-token';
import { configProblems } from '../support/config-problems';

const problems = configProblems;

describe("token-warden's own token from a file", () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tw-warden-'));
    file = path.join(dir, 'cloudflare.env');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** As a `file` target writes it: a new file renamed over the old one. */
  const replace = (text: string) => {
    writeFileSync(`${file}.tmp`, text);
    renameSync(`${file}.tmp`, file);
  };

  it('switches to a new value as soon as the file changes, without a restart', () => {
    replace('old-value\n');
    const token = wardenTokenFromFile(file);
    expect(token.current()).toBe('old-value');
    replace('CLOUDFLARE_API_TOKEN_ID=abc\nCLOUDFLARE_API_TOKEN=new-value\n');
    expect(token.current()).toBe('new-value');
    expect(token.where).toContain(file);
    expect(token.where).not.toContain('new-value');
  });

  it('keeps the last working value while the file is missing or empty', () => {
    replace('{"CLOUDFLARE_API_TOKEN": "json-value"}');
    const token = wardenTokenFromFile(file);
    expect(token.current()).toBe('json-value');
    rmSync(file);
    expect(token.current()).toBe('json-value');
    replace('');
    expect(token.current()).toBe('json-value');
  });

  it('refuses to start on a file that holds no token, and on both variables set', () => {
    replace('\n');
    expect(problems(() => wardenTokenFromFile(file))[0]).toMatch(/CLOUDFLARE_API_TOKEN_FILE: no token in/);
    const env = parseEnvironment({ CLOUDFLARE_API_TOKEN: 'x', CLOUDFLARE_API_TOKEN_FILE: file });
    expect(problems(() => configuredWardenToken(env))[0]).toMatch(/both set: set one/);
  });

  it("reads an inventory token's file the same way: the value alone or a target's CLOUDFLARE_API_TOKEN key", () => {
    replace('export CLOUDFLARE_API_TOKEN="quoted value"\nOTHER=1\n');
    expect(readSecret({ file }, {})).toBe('quoted value');
    replace('  plain-value \n');
    expect(readSecret({ file }, {})).toBe('plain-value');
  });

  describe('self: true in the inventory', () => {
    const inventory = (entry: string) =>
      parseInventory(`accounts:\n  - id: acc\n    apiTokens:\n${entry}`, 'inv.yaml', {});
    const self = (secretFrom: string, extra = '') =>
      `      - name: warden\n        kind: user\n        self: true\n        secretFrom: ${secretFrom}\n${extra}`;

    it('is accepted when token-warden reads the file its rotation writes', () => {
      replace('v\n');
      const parsed = inventory(
        self(`{ file: ${file} }`, `        rotate:\n          targets: [{ kind: file, path: ${file} }]\n`),
      );
      expect(() => checkSelfToken(parsed, wardenTokenFromFile(file))).not.toThrow();
    });

    it('is refused with a reason an operator can act on', () => {
      replace('v\n');
      const roll = `        rotate:\n          strategy: roll\n`;
      expect(problems(() => inventory(self('{ env: TOKEN }', roll)))).toEqual([
        expect.stringMatching(/secretFrom: token-warden's own token is read from a file/),
        expect.stringMatching(/rotate\.strategy: token-warden's own token rotates by successor/),
      ]);
      expect(problems(() => inventory(self(`{ file: ${file} }`) + self(`{ file: ${file} }`)))).toEqual([
        expect.stringMatching(/apiTokens\.1\.self: only one API token/),
      ]);
      const parsed = inventory(self(`{ file: ${file} }`, `        rotate:\n          targets: []\n`));
      const fromEnv = configuredWardenToken(parseEnvironment({ CLOUDFLARE_API_TOKEN: 'x' }))!;
      expect(problems(() => checkSelfToken(parsed, fromEnv))[0]).toMatch(/set CLOUDFLARE_API_TOKEN_FILE instead/);
      expect(problems(() => checkSelfToken(parsed, wardenTokenFromFile(file)))[0]).toMatch(/no rotate target writes/);
      const elsewhere = path.join(dir, 'other');
      writeFileSync(elsewhere, 'v');
      expect(problems(() => checkSelfToken(parsed, wardenTokenFromFile(elsewhere)))[0]).toMatch(
        /secretFrom must be \{ file: /,
      );
    });
  });
});
