import { createServer, type IncomingHttpHeaders } from 'node:http';

export interface FakeRequest {
  method: string;
  /** Path without the query string, percent-decoding left to the route. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  contentType: string;
  /** Parsed JSON when the body is JSON; the text otherwise; undefined when empty. */
  body: unknown;
}

export interface FakeResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface LoopbackServer {
  /** http://127.0.0.1:PORT */
  url: string;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 with a free port; one async handler answers every request in JSON. */
export async function startLoopbackServer(
  handle: (request: FakeRequest) => Promise<FakeResponse> | FakeResponse,
): Promise<LoopbackServer> {
  const server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const url = new URL(incoming.url ?? '/', 'http://127.0.0.1');
      const text = Buffer.concat(chunks).toString('utf8');
      const contentType = incoming.headers['content-type'] ?? '';
      let body: unknown = text === '' ? undefined : text;
      if (text !== '' && /json/.test(contentType)) {
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
      }
      Promise.resolve()
        .then(() =>
          handle({
            method: incoming.method ?? 'GET',
            path: url.pathname,
            query: url.searchParams,
            headers: incoming.headers,
            contentType,
            body,
          }),
        )
        .then(
          (response) => {
            const payload = response.body === undefined ? '' : JSON.stringify(response.body);
            outgoing.writeHead(response.status, {
              ...(payload === '' ? {} : { 'content-type': 'application/json; charset=utf-8' }),
              ...response.headers,
            });
            outgoing.end(payload);
          },
          (error: unknown) => {
            outgoing.writeHead(500, { 'content-type': 'text/plain' });
            outgoing.end(`fake server bug: ${String(error)}`);
          },
        );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the fake server has no TCP address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
