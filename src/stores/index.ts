export { fingerprintCredential } from './fingerprint';
export { readBackConfirms } from './evidence';
export { createMemoryStoreMemo, type StoreMemo } from './memo';
export { createStore, type StoreContext, type StoreDeps, type StoreFactory } from './registry';
export { StoreError, type StoreOperation } from './store-error';
export { propagationTargetSchema, readBackSchema, writeReceiptSchema } from './store-schemas';
export { targetLabel } from './target-label';
export type * from './store-types';
