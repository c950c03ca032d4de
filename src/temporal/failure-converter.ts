import { DefaultFailureConverter } from '@temporalio/common';

// Loaded by path on the client, the worker and inside the workflow bundle: failure messages
// and stack traces go into encodedAttributes, which the payload codec then encrypts.
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
