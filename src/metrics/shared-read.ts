/**
 * Callers that ask while a read is running share its answer: the collectors of one scrape start
 * together, so each table is read once per scrape and every metric of it tells the same story.
 */
export function sharedWhileRunning<T>(read: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  return () => {
    running ??= read().finally(() => {
      running = undefined;
    });
    return running;
  };
}
