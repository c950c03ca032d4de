import type { FastifyPluginAsync } from 'fastify';
import { dashboardCsp, dashboardPage } from '../dashboard/page';

export interface DashboardOptions {
  temporalUiUrl: string | null;
  namespace: string;
}

/** `/`: the dashboard page; public because it holds nothing but code, which asks for a token. */
export const dashboardRoutes: FastifyPluginAsync<DashboardOptions> = async (app, options) => {
  const page = dashboardPage(options);
  const csp = dashboardCsp(options);
  app.get('/', { config: { public: true }, schema: { hide: true } }, async (_request, reply) =>
    reply
      .header('content-security-policy', csp)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .type('text/html; charset=utf-8')
      .send(page),
  );
};
