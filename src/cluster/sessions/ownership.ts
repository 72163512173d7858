// Client-id ownership in etcd: `clients/<clientId>` under the cluster prefix holds the id of the node that serves the
// session, attached to that node's lease (so it disappears with the node). Every change is a compare-and-swap on the
// key's revision (an etcd transaction), so two nodes can never both think they got one client id:
//   - an unowned id is created only if absent (create revision 0);
//   - an owned id moves only from the revision its owner holds: the owner itself swaps it to the node that asked
//     for it (on that node's lease) after closing the client's connection there (registry.ts);
//   - an ended session's key is deleted only at the revision its owner holds.
import type { Etcd3 } from "etcd3";

export interface ClientOwner {
  readonly node: string;
  /** The key's mod revision (decimal). */
  readonly rev: string;
}

export type CreateOutcome =
  | { readonly created: string }
  /** Owned already; undefined when it went away between the compare and the read (try again). */
  | { readonly owner: ClientOwner | undefined };

export class ClientOwnership {
  constructor(
    private readonly etcd: Etcd3,
    /** `/wharf/<cluster>/clients/` */
    readonly prefix: string,
  ) {}

  key(clientId: string): string {
    return this.prefix + clientId;
  }

  /** Takes an unowned client id for `node` on `leaseId` (its new mod revision), or says who owns it. */
  async createOrGet(clientId: string, node: string, leaseId: string): Promise<CreateOutcome> {
    const key = this.key(clientId);
    const r = await this.etcd
      .if(key, "Create", "==", 0)
      .then(this.etcd.put(key).value(node).lease(leaseId))
      .else(this.etcd.get(key))
      .commit();
    if (r.succeeded) return { created: r.header.revision };
    const kv = r.responses[0]?.response_range?.kvs[0];
    return { owner: kv === undefined ? undefined : { node: kv.value.toString(), rev: kv.mod_revision } };
  }

  /** Moves the id to `node` on `leaseId` if its revision is still `rev`: the new revision, or undefined. */
  async swap(clientId: string, rev: string, node: string, leaseId: string): Promise<string | undefined> {
    const key = this.key(clientId);
    const r = await this.etcd.if(key, "Mod", "==", rev).then(this.etcd.put(key).value(node).lease(leaseId)).commit();
    return r.succeeded ? r.header.revision : undefined;
  }

  /** Deletes the key if its revision is still `rev`. */
  async release(clientId: string, rev: string): Promise<boolean> {
    const key = this.key(clientId);
    const r = await this.etcd.if(key, "Mod", "==", rev).then(this.etcd.delete().key(key)).commit();
    return r.succeeded;
  }

  /** The current owner (tests, admin). */
  async owner(clientId: string): Promise<ClientOwner | undefined> {
    const r = await this.etcd.get(this.key(clientId)).exec();
    const kv = r.kvs[0];
    return kv === undefined ? undefined : { node: kv.value.toString(), rev: kv.mod_revision };
  }
}
