/** A promise a test opens when it chooses: holds a loader at a precise point to make a race deterministic. */
export class Gate {
  private release!: () => void;
  readonly opened: Promise<void> = new Promise((resolve) => (this.release = resolve));
  private arrived!: () => void;
  /** Resolves once something is waiting at the gate. */
  readonly reached: Promise<void> = new Promise((resolve) => (this.arrived = resolve));

  async wait(): Promise<void> {
    this.arrived();
    await this.opened;
  }

  open(): void {
    this.release();
  }
}

/**
 * Makes the next `findById` of a real store read Postgres as usual and then wait at the returned gate
 * before handing the row back; later calls are untouched.
 */
export function holdNextLoad<T>(store: { findById(id: number): Promise<T> }): Gate {
  const gate = new Gate();
  const original = store.findById;
  const load = original.bind(store);
  store.findById = async (id: number): Promise<T> => {
    store.findById = original;
    const row = await load(id);
    await gate.wait();
    return row;
  };
  return gate;
}
