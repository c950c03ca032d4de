/**
 * The shapes token health works with. Policies keep Cloudflare's wire field names
 * (`permission_groups`, `resources`) so what heal sends back is, field for field, what it
 * read: the update is a full replace, and anything renamed on the way would be lost.
 *
 * Pure types only: this folder is imported by workflow code.
 */

export type TokenKind = 'account' | 'user';

/** `"*"`, or (under an account key) a map of zone keys to `"*"`. */
export type ResourceValue = string | Readonly<Record<string, string>>;
export type TokenResources = Readonly<Record<string, ResourceValue>>;

export interface PermissionGroupRef {
  id: string;
  /** Read-only on Cloudflare: present in reads, never sent back. */
  name?: string;
  meta?: Readonly<Record<string, string>>;
}

export interface TokenPolicy {
  /** Read-only on Cloudflare: present in reads, never sent back. */
  id?: string;
  effect: 'allow' | 'deny';
  permission_groups: readonly PermissionGroupRef[];
  resources: TokenResources;
}

/** What an update sends for one policy: the read policy minus its read-only fields. */
export interface TokenPolicyInput {
  effect: 'allow' | 'deny';
  permission_groups: ReadonlyArray<{ id: string; meta?: Readonly<Record<string, string>> }>;
  resources: TokenResources;
}

export interface RequestIpCondition {
  in?: string[];
  not_in?: string[];
}

/** Cloudflare has spelled the key both ways; whichever was read is sent back. */
export interface TokenCondition {
  request_ip?: RequestIpCondition;
  'request.ip'?: RequestIpCondition;
}

/** One permission group from the listing: the part token health needs. */
export interface PermissionGroupInfo {
  id: string;
  name: string;
  scopes: readonly string[];
}

/** A token as `GET …/tokens/{id}` shows it; never its value. */
export interface TokenSnapshot {
  id: string;
  name: string;
  status: string;
  issuedOn: string | null;
  modifiedOn: string | null;
  notBefore: string | null;
  expiresOn: string | null;
  policies: readonly TokenPolicy[];
  condition: TokenCondition | null;
}

/** Which credential talks to Cloudflare about a token: the token itself, or token-warden's own. */
export type Credential = 'self' | 'warden';

/** A token of the inventory, as a run sees it (no secret, only where to find it). */
export interface InventoryTokenRef {
  accountId: string;
  name: string;
  kind: TokenKind;
  /** From the inventory; otherwise learnt through verify and cached. */
  configuredId: string | null;
  requiredPermissions: readonly string[];
  /** A token token-warden rotates (`rotate:`): how long before expiry the sweep renews it. */
  renewBeforeMs?: number;
  /** Its `rotate.every`, counted from when its value was made (issued; for `roll`, last modified). */
  every?: { ms: number; since: 'issuedOn' | 'modifiedOn' };
}

/** A Cloudflare refusal reduced to what is safe to keep. */
export interface Refusal {
  httpStatus: number | null;
  message: string;
}

/** What the check step learnt about one token from Cloudflare. */
export interface TokenObservation {
  /** `sha256:` + 16 hex of the value: tells a replaced value from the cached one. */
  fingerprint: string | null;
  secret: 'present' | 'missing';
  /** Where the value should have come from, for the recommendation when it is missing. */
  secretSource: string;
  tokenId: string | null;
  /** Whether Cloudflare accepted the value (verify, or the token reading itself); null when it could not be asked. */
  accepted: boolean | null;
  /** Status and expiry from verify, when verify ran and succeeded. */
  verified: { status: string; expiresOn: string | null; notBefore: string | null } | null;
  /** Why Cloudflare refused the value, or could not be reached. */
  refusal: Refusal | null;
  snapshot: TokenSnapshot | null;
  readVia: Credential | null;
  /** Why the policies could not be read, when they could not. */
  readProblem: string | null;
  /** Kind detected for token-warden's own token (the inventory's tokens have theirs). */
  kind: TokenKind | null;
}

/** Cached between runs so a token that may read itself costs one call. */
export interface TokenIdentity {
  subject: string;
  fingerprint: string;
  tokenId: string;
  kind: TokenKind;
  selfReadable: boolean;
}
