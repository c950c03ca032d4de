import { defineQuery, defineSignal } from '@temporalio/workflow';

/**
 * What a rotation is told and asked, shared by every workflow that may run under a token's
 * workflow id `rotate/<account>/<token>` (the rotation, and the expiry sweep's refresh), so a
 * revoke signalled to that id is understood by whichever of them runs there.
 */

export interface EmergencyRevokeRequest {
  actor: string;
  reason: string;
}

export interface RotationStep {
  seq: number;
  step: string;
  outcome: 'ok' | 'failed' | 'compensated' | 'skipped';
  startedAt: string;
  finishedAt: string;
  details: Record<string, unknown>;
}

export type RotationMode = 'scheduled' | 'manual' | 'expiry' | 'emergency';

export interface RotationProgress {
  tokenName: string;
  accountId: string;
  mode: RotationMode;
  strategy: string | null;
  phase: string;
  emergency: boolean;
  steps: RotationStep[];
}

export const emergencyRevokeSignal = defineSignal<[EmergencyRevokeRequest]>('emergencyRevoke');
export const progressQuery = defineQuery<RotationProgress>('progress');
