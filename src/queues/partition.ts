// Partitions: which partition a message goes to, and which consumer of a group serves which partition.

/** FNV-1a 32-bit over the UTF-8 bytes: stable across restarts and processes (unlike a per-process seeded hash). */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  const bytes = Buffer.from(key, "utf8");
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** partition = hash(partition-key) % partitions; messages without a key go round robin (`spread` counter). */
export function partitionFor(key: string | undefined, partitions: number, spread: number): number {
  if (partitions <= 1) return 0;
  if (key === undefined) return spread % partitions;
  return hashKey(key) % partitions;
}

/** partitionFor with the key already hashed (hashKey), as the message index keeps it. */
export function partitionOfHash(hash: number | undefined, partitions: number, spread: number): number {
  if (partitions <= 1) return 0;
  return hash === undefined ? spread % partitions : hash % partitions;
}

/**
 * Partition → consumer index, spread evenly: consumer i (in join order) gets partitions i, i+n, i+2n, …
 * Deterministic, so a join or leave moves as few partitions as the round robin allows, and tests can predict it.
 */
export function assignPartitions(partitions: number, consumers: number): number[] {
  const owners: number[] = [];
  for (let p = 0; p < partitions; p++) owners.push(consumers === 0 ? -1 : p % consumers);
  return owners;
}
