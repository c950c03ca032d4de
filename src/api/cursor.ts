import type { ListPosition } from '../db/keyset';

/**
 * `next_before` and `before=`: the position of a page's last row, opaque to clients:
 * `<list><microseconds since 1970>-<key>`. Its pattern is published in the OpenAPI document
 * and is exact: every value that matches it names a position (a page, maybe empty), and every
 * other one is a 400. The list letter makes a cursor of one list a 400 on the other.
 */
export type PagedList = 'rotations' | 'token-health' | 'discovered';

interface CursorFormat {
  letter: string;
  /** The key as written in the cursor (a regular expression) and back. */
  key: string;
  encodeKey(key: string): string;
  decodeKey(text: string): string;
}

const FORMATS: Record<PagedList, CursorFormat> = {
  // Run ids are text: hex of their UTF-8, every byte but NUL (which Postgres text cannot hold).
  rotations: {
    letter: 'r',
    key: '(?:0[1-9a-f]|[1-9a-f][0-9a-f]){1,500}',
    encodeKey: (key) => Buffer.from(key, 'utf8').toString('hex'),
    decodeKey: (text) => Buffer.from(text, 'hex').toString('utf8'),
  },
  // Check ids are bigserials; 18 digits stay inside bigint.
  'token-health': { letter: 'h', key: '(?:0|[1-9][0-9]{0,17})', encodeKey: (key) => key, decodeKey: (text) => text },
  // Discovered credentials: `<account>/<kind>/<id>`, hex of its UTF-8 like run ids.
  discovered: {
    letter: 'd',
    key: '(?:0[1-9a-f]|[1-9a-f][0-9a-f]){1,500}',
    encodeKey: (key) => Buffer.from(key, 'utf8').toString('hex'),
    decodeKey: (text) => Buffer.from(text, 'hex').toString('utf8'),
  },
};

/** Up to 16 digits: until the year 2286, always a date JavaScript and Postgres both hold. */
const MICROS = '(0|[1-9][0-9]{0,15})';

const pattern = (format: CursorFormat) => new RegExp(`^${format.letter}${MICROS}-(${format.key})$`);
const PATTERNS: Record<PagedList, RegExp> = {
  rotations: pattern(FORMATS.rotations),
  'token-health': pattern(FORMATS['token-health']),
  discovered: pattern(FORMATS.discovered),
};

export const cursorPattern = (list: PagedList): RegExp => PATTERNS[list];

/** `exactTime`'s text (`…SS.ffffffZ`) as microseconds, exactly: a Date alone keeps milliseconds. */
const microsOf = (at: string) => BigInt(Date.parse(`${at.slice(0, 23)}Z`)) * 1000n + BigInt(at.slice(23, 26));
const timeOf = (micros: bigint) =>
  `${new Date(Number(micros / 1000n)).toISOString().slice(0, 23)}${(micros % 1000n).toString().padStart(3, '0')}Z`;

export function encodeCursor(list: PagedList, position: ListPosition): string {
  return `${FORMATS[list].letter}${microsOf(position.at)}-${FORMATS[list].encodeKey(position.key)}`;
}

/** The position a cursor of `list` names, or undefined when it does not match `cursorPattern(list)`. */
export function decodeCursor(list: PagedList, cursor: string): ListPosition | undefined {
  const match = PATTERNS[list].exec(cursor);
  if (!match) return undefined;
  return { at: timeOf(BigInt(match[1]!)), key: FORMATS[list].decodeKey(match[2]!) };
}
