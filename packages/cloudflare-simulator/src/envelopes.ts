import type { CfMessage } from './errors';

/** result_info as Cloudflare sends it on paginated lists. */
export interface ResultInfo {
  page: number;
  per_page: number;
  count: number;
  total_count: number;
  total_pages: number;
}

export interface SuccessEnvelope<T> {
  success: true;
  errors: CfMessage[];
  messages: Array<CfMessage & { type?: null }>;
  result: T;
  result_info?: ResultInfo;
}

export interface FailureEnvelope {
  success: false;
  errors: readonly CfMessage[];
  messages: CfMessage[];
  result: null;
}

export function success<T>(
  result: T,
  resultInfo?: ResultInfo,
  messages: Array<CfMessage & { type?: null }> = [],
): SuccessEnvelope<T> {
  return resultInfo === undefined
    ? { success: true, errors: [], messages, result }
    : { success: true, errors: [], messages, result, result_info: resultInfo };
}

export function failure(errors: readonly CfMessage[]): FailureEnvelope {
  return { success: false, errors, messages: [], result: null };
}
