// A minimal typed event emitter: `on(kind, fn)` returns the function that removes `fn`. A listener that throws is
// isolated (reported to `onError`) so one consumer of membership or transport events cannot break another.

export class Listeners<E extends object> {
  readonly #fns = new Map<keyof E, Set<(event: never) => void>>();

  constructor(private readonly onError: (err: unknown, kind: keyof E) => void) {}

  on<K extends keyof E>(kind: K, fn: (event: E[K]) => void): () => void {
    let set = this.#fns.get(kind);
    if (set === undefined) this.#fns.set(kind, (set = new Set()));
    set.add(fn);
    return () => void set.delete(fn);
  }

  emit<K extends keyof E>(kind: K, event: E[K]): void {
    const set = this.#fns.get(kind);
    if (set === undefined) return;
    for (const fn of [...set]) {
      try {
        (fn as (event: E[K]) => void)(event);
      } catch (err) {
        this.onError(err, kind);
      }
    }
  }

  clear(): void {
    this.#fns.clear();
  }
}
