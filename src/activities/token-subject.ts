import { createHash } from 'node:crypto';

/** Whose token an activity is about: one of the inventory's, or the one token-warden runs on. */
export type TokenSubject = { source: 'inventory'; accountId: string; name: string } | { source: 'warden' };

export const WARDEN_SUBJECT = 'token-warden';
export const subjectKey = (subject: TokenSubject): string =>
  subject.source === 'warden' ? WARDEN_SUBJECT : `${subject.accountId}/${subject.name}`;

/** 64 bits of SHA-256: tells a replaced value from the cached one, helps no one guess it. */
export const fingerprintToken = (value: string): string =>
  `sha256:${createHash('sha256').update(value).digest('hex').slice(0, 16)}`;
