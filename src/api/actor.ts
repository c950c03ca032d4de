/** Who an API request acts as, in audit rows, search attributes and run triggers: `api:<client name>`. */
export const apiActor = (request: { client: { name: string } | null }): string =>
  `api:${request.client?.name ?? 'unknown'}`;
