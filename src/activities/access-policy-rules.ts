/** Access policies as token-warden reads and writes them: which service tokens their rules name, what a PUT sends back. */

export type Rule = Record<string, unknown>;
export type Policy = {
  id?: string;
  name?: string;
  decision?: string;
  include?: Rule[];
  exclude?: Rule[];
  require?: Rule[];
  reusable?: boolean;
} & Record<string, unknown>;

export const RULE_LISTS = ['include', 'require', 'exclude'] as const;
/** Everything a PUT must send back so the replace keeps the policy as it was. */
const WRITABLE_FIELDS = [
  'name',
  'decision',
  'include',
  'exclude',
  'require',
  'approval_groups',
  'approval_required',
  'isolation_required',
  'purpose_justification_prompt',
  'purpose_justification_required',
  'session_duration',
  'precedence',
];

export const namesToken = (rule: Rule, tokenId: string) =>
  (rule.service_token as { token_id?: string } | undefined)?.token_id === tokenId;
export const tokenRule = (tokenId: string): Rule => ({ service_token: { token_id: tokenId } });
export const namesTokenAnywhere = (policy: Policy, tokenId: string) =>
  RULE_LISTS.some((list) => (policy[list] ?? []).some((rule) => namesToken(rule, tokenId)));

/** Every service token the policy's rules name, in any list. */
export function tokensNamed(policy: Policy): string[] {
  const ids = new Set<string>();
  for (const list of RULE_LISTS) {
    for (const rule of policy[list] ?? []) {
      const tokenId = (rule.service_token as { token_id?: unknown } | undefined)?.token_id;
      if (typeof tokenId === 'string') ids.add(tokenId);
    }
  }
  return [...ids];
}

export function writable(policy: Policy): Record<string, unknown> {
  return Object.fromEntries(
    WRITABLE_FIELDS.filter((field) => policy[field] !== undefined && policy[field] !== null).map((field) => [
      field,
      policy[field],
    ]),
  );
}
