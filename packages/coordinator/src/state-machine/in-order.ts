/**
 * A line in which messages take their turn in the order they arrived, however long each one's
 * work before its turn takes (ingest.ts: opening and decoding may finish in any order on a pool
 * of workers). `join()` at arrival takes a place; `wait()` resolves once every place before it
 * is done; `done()` lets the next one go. A place that is never reached (its message failed
 * earlier) must still be done, so that the line moves on.
 */

export interface Place {
  /** Resolves once every place taken before this one is done. */
  wait(): Promise<void>;
  /** Lets the next place go, once the places before this one are done too; idempotent. */
  done(): void;
}

export class InOrder {
  private tail: Promise<void> = Promise.resolve();

  join(): Place {
    const before = this.tail;
    let release: () => void = () => {};
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.tail = before.then(() => mine);
    return { wait: () => before, done: () => release() };
  }
}
