/**
 * Go-style durations as Access uses them for service tokens ("8760h", "2h45m", "300ms"),
 * plus the special value "forever".
 */
const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

export const FOREVER = 'forever';
export const DEFAULT_SERVICE_TOKEN_DURATION = '8760h';

/** Milliseconds in the duration, null for "forever", undefined when the text is not a duration. */
export function parseDuration(text: string): number | null | undefined {
  if (text === FOREVER) return null;
  const part = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let index = 0;
  while (index < text.length) {
    part.lastIndex = index;
    const match = part.exec(text);
    if (!match) return undefined;
    total += Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? 0);
    index = part.lastIndex;
  }
  return text.length > 0 && total > 0 ? total : undefined;
}
