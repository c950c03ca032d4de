import { Client, Connection } from '@temporalio/client';
import { createDataConverter } from './data-converter';
import type { EncryptionKeys } from './codec';

export interface TemporalSettings {
  address: string;
  namespace: string;
  apiKey?: string;
  tls?: boolean;
}

export async function connectTemporal(settings: TemporalSettings): Promise<Connection> {
  return Connection.connect({
    address: settings.address,
    apiKey: settings.apiKey,
    tls: settings.tls || Boolean(settings.apiKey) ? {} : undefined,
  });
}

export function createTemporalClient(connection: Connection, namespace: string, keys: EncryptionKeys): Client {
  return new Client({ connection, namespace, dataConverter: createDataConverter(keys) });
}
