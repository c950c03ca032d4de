export default async function globalTeardown(): Promise<void> {
  const stops = (globalThis as { __tokenWardenStops?: Array<() => Promise<void> | void> }).__tokenWardenStops ?? [];
  for (const stop of stops.reverse()) await stop();
}
