/**
 * The `fetch` of token-warden's own clients, around the budgeted one. Each request carries the
 * token current when it is sent, not when its client was made (a request may wait for the budget
 * while token-warden's own token is rotated, `self: true`); one refused (401/403) because the
 * token changed while it was on its way is sent once more with the new token.
 */
export function wardenFetch(
  current: () => string,
  meter: (send: typeof fetch) => typeof fetch,
  send: typeof fetch = fetch,
): typeof fetch {
  const sentWith = new WeakMap<Response, string>();
  const stamped: typeof fetch = async (input, init) => {
    const token = current();
    const headers = new Headers(init?.headers);
    headers.set('authorization', `Bearer ${token}`);
    const response = await send(input, { ...init, headers });
    sentWith.set(response, token);
    return response;
  };
  const metered = meter(stamped);
  return async (input, init) => {
    const response = await metered(input, init);
    const token = sentWith.get(response);
    if ((response.status !== 401 && response.status !== 403) || token === undefined || token === current())
      return response;
    await response.body?.cancel();
    return metered(input, init);
  };
}
