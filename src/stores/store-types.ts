import type { z } from 'zod';
import type {
  fileTargetSchema,
  githubTargetSchema,
  kubernetesConsumerSchema,
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
export type KubernetesConsumer = z.infer<typeof kubernetesConsumerSchema>;
export type GithubTarget = z.infer<typeof githubTargetSchema>;
export type WorkersSecretTarget = z.infer<typeof workersSecretTargetSchema>;
export type SecretsStoreTarget = z.infer<typeof secretsStoreTargetSchema>;
export type ReadBack = z.infer<typeof readBackSchema>;
export type WriteReceipt = z.infer<typeof writeReceiptSchema>;

export interface ServiceTokenCredential {
  clientId: string;
  clientSecret: string;
}

/**
 * What the caller knows about the store's contents that the store cannot read itself. Workers and
 * Secrets Store never return a value, so without a hint they write both halves every time; the
 * other stores ignore it.
 */
export interface WriteOptions {
  /**
   * The credential's client id is the one every store was last meant to hold (the token's
   * `current` credential in the pending-secret store): true for `rotate-secret`, which keeps the
   * client id. Workers and Secrets Store then write only the client secret. It is a hint, not
   * evidence: a binding deleted by hand stays missing, readBack shows it (Workers: not present;
   * Secrets Store: no fingerprint), verification fails, and the workflow's next propagation
   * round writes without the hint, restoring it. A store that finds the id missing on its own
   * (Secrets Store, when it lists) writes it anyway.
   */
  readonly clientIdUnchanged?: boolean;
}

export interface PropagationStore {
  readonly kind: PropagationTargetKind;
  /** Where the credential goes, e.g. "file:/etc/app/cf.env", "github:acme/api@prod"; never a secret. */
  readonly label: string;
  /** Idempotent: writing the credential a store already holds changes nothing that matters. */
  write(credential: ServiceTokenCredential, options?: WriteOptions): Promise<WriteReceipt>;
  /** What the store holds now, as evidence (a fingerprint at best), never the value. */
  readBack(): Promise<ReadBack>;
  /** Puts the previous, still valid credential back; used by compensation. */
  restore(previous: ServiceTokenCredential): Promise<void>;
  /**
   * Whether the workloads that read this store have picked up the write behind the receipt
   * (Kubernetes `restart:`). Absent on stores whose consumers read the value on every use.
   */
  consumersReady?(receipt: WriteReceipt): Promise<ConsumersReady>;
}

/** Where each consumer of a store stands with a write; evidence only, never a value. */
export interface ConsumersReady {
  /** How long, from the start of verification, the consumers may take before the write counts as failed. */
  timeoutMs: number;
  consumers: Array<{ consumer: string; ready: boolean; detail: string }>;
}
