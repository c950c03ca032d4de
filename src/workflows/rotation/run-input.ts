import type { Lane } from '../../cloudflare/budget/lanes';
import type { Trigger } from '../triggers';
import type { RotationMode } from './messages';

// What a rotation run is started with, and what follows from it alone.

export type StrategyName = 'rotate-secret' | 'replace' | 'successor' | 'roll';

/** What a run rotates: an Access service token, or a Cloudflare API token (rotate-api-token.ts). */
export type CredentialKind = 'service-token' | 'api-token';

export interface RotateServiceTokenInput {
  accountId: string;
  tokenName: string;
  mode: RotationMode;
  trigger: Trigger;
  /** Absent: a service token. */
  credential?: 'api-token';
}

/** The budget lane of a rotation's Cloudflare calls (an emergency revoke's are always `emergency`). */
export function laneOfRotation(mode: RotationMode): Lane {
  return mode === 'emergency' ? 'emergency' : mode === 'manual' ? 'interactive' : 'scheduled';
}
