import { notFound } from '../errors';
import { newHexId } from '../ids';
import type { SimStore } from './store';

export interface AccountView {
  id: string;
  name: string;
}

export interface ZoneView {
  id: string;
  name: string;
  accountId: string;
}

/** Accounts, zones and the single user every user-owned API token belongs to. */
export class AccountsRepo {
  constructor(private readonly store: SimStore) {}

  get user(): { id: string; email: string } {
    return this.store.data.user;
  }

  createAccount(input: { name?: string; id?: string } = {}): AccountView {
    return this.store.mutate((data) => {
      const id = input.id ?? newHexId();
      const account = { id, name: input.name ?? `Account ${id.slice(0, 6)}`, created_on: this.store.nowIso() };
      data.accounts[id] = account;
      return { id, name: account.name };
    });
  }

  hasAccount(id: string): boolean {
    return this.store.data.accounts[id] !== undefined;
  }

  requireAccount(id: string): AccountView {
    const account = this.store.data.accounts[id];
    if (!account) throw notFound(`account ${id}`);
    return { id: account.id, name: account.name };
  }

  createZone(input: { accountId: string; name: string; id?: string }): ZoneView {
    this.requireAccount(input.accountId);
    return this.store.mutate((data) => {
      const zone = { id: input.id ?? newHexId(), name: input.name, accountId: input.accountId };
      data.zones[zone.id] = zone;
      return { ...zone };
    });
  }

  zone(id: string): ZoneView | undefined {
    const zone = this.store.data.zones[id];
    return zone ? { ...zone } : undefined;
  }

  requireZone(id: string): ZoneView {
    const zone = this.zone(id);
    if (!zone) throw notFound(`zone ${id}`);
    return zone;
  }
}
