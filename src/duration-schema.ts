import { z } from 'zod';
import { msToNumber } from '@temporalio/common';

/** A duration as Temporal writes them ("30s", "720h", "90 days"), kept as the string. */
export const durationSchema = z.string().refine((value) => {
  try {
    return msToNumber(value as Parameters<typeof msToNumber>[0]) > 0;
  } catch {
    return false;
  }
}, 'must be a positive duration such as "30s", "12h" or "90d"');
