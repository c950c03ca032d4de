import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Custom search attributes every token-warden workflow may carry; never a secret. */
export const TokenName = defineSearchAttributeKey('TokenName', SearchAttributeType.KEYWORD);
export const CloudflareAccountId = defineSearchAttributeKey('CloudflareAccountId', SearchAttributeType.KEYWORD);
export const TokenKind = defineSearchAttributeKey('TokenKind', SearchAttributeType.KEYWORD);
export const RotationStrategy = defineSearchAttributeKey('RotationStrategy', SearchAttributeType.KEYWORD);
export const TriggeredBy = defineSearchAttributeKey('TriggeredBy', SearchAttributeType.KEYWORD);

export const customSearchAttributes = [
  TokenName,
  CloudflareAccountId,
  TokenKind,
  RotationStrategy,
  TriggeredBy,
] as const;

/**
 * What a run about one service token is found by: the token, its account, its kind and who asked;
 * a rotation started with its strategy known also by that.
 */
export function serviceTokenAttributes(
  token: { accountId: string; tokenName: string },
  actor: string,
  strategy?: 'rotate-secret' | 'replace',
) {
  return [
    { key: TokenName, value: token.tokenName },
    { key: CloudflareAccountId, value: token.accountId },
    { key: TokenKind, value: 'service-token' },
    { key: TriggeredBy, value: actor },
    ...(strategy ? [{ key: RotationStrategy, value: strategy }] : []),
  ];
}
