// Placeholder: replaced by the shared Postgres + Temporal dev server bootstrap.
export default async function globalSetup(): Promise<void> {}
