import type { z } from 'zod';
import type {
  fileTargetSchema,
  githubTargetSchema,
  kubernetesTargetSchema,
  propagationTargetSchema,
  readBackSchema,
  secretsStoreTargetSchema,
  workersSecretTargetSchema,
  writeReceiptSchema,
} from './store-schemas';

export type PropagationTarget = z.infer<typeof propagationTargetSchema>;
export type PropagationTargetKind = PropagationTarget['kind'];
export type FileTarget = z.infer<typeof fileTargetSchema>;
export type KubernetesTarget = z.infer<typeof kubernetesTargetSchema>;
export type GithubTarget = z.infer<typeof githubTargetSchema>;
export type WorkersSecretTarget = z.infer<typeof workersSecretTargetSchema>;
export type SecretsStoreTarget = z.infer<typeof secretsStoreTargetSchema>;
export type ReadBack = z.infer<typeof readBackSchema>;
export type WriteReceipt = z.infer<typeof writeReceiptSchema>;

export interface ServiceTokenCredential {
  clientId: string;
  clientSecret: string;
}

export interface PropagationStore {
  readonly kind: PropagationTargetKind;
  /** Where the credential goes, e.g. "file:/etc/app/cf.env", "github:acme/api@prod"; never a secret. */
  readonly label: string;
  /** Idempotent: writing the credential a store already holds changes nothing that matters. */
  write(credential: ServiceTokenCredential): Promise<WriteReceipt>;
  /** What the store holds now, as evidence (a fingerprint at best), never the value. */
  readBack(): Promise<ReadBack>;
  /** Puts the previous, still valid credential back; used by compensation. */
  restore(previous: ServiceTokenCredential): Promise<void>;
}
