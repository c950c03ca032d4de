import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SimDataSchema } from './schema';
import type { SimData } from './types';

/** Reads a state file written by {@link saveStateFile}; undefined when the file does not exist. */
export function loadStateFile(file: string): SimData | undefined {
  if (!existsSync(file)) return undefined;
  const parsed = SimDataSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    throw new Error(`Simulator state file ${file} is not valid: ${parsed.error.message}`);
  }
  return parsed.data;
}

/**
 * Writes state atomically: a temp file beside the target, then rename, so a crash mid-write
 * leaves the previous complete file. Mode 0600 because the demo section holds credentials.
 */
export function saveStateFile(file: string, data: SimData): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(data, null, 2), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}
