/**
 * Wait queues (the seed's `waiter` package): an endpoint owns a `Queue`, and
 * whoever wants to hear when it becomes readable or writable registers an
 * `Entry` with the events it cares about. The endpoint calls `notify` when its
 * readiness changes; matching entries are called synchronously, in the order
 * they registered (STYLE principle 4: no promises on the receive path).
 *
 * The usual pattern, as in the seed:
 *
 * ```ts
 * const n = ep.read(buf);                // non-blocking; throws ErrWouldBlock
 * queue.register(entry, EventIn);        // then check again before waiting,
 * if (ep.readiness(EventIn) & EventIn) … // since readiness may have changed
 * ```
 *
 * `waitFor` wraps that pattern in a Promise for adapters (`adapters/net`).
 */

/** A set of poll(2) events, as bits. */
export type EventMask = number;

/** Data to read (POLLIN). */
export const EventIn = 0x01;
/** Urgent data (POLLPRI). */
export const EventPri = 0x02;
/** Room to write (POLLOUT). */
export const EventOut = 0x04;
/** An error is pending (POLLERR). */
export const EventErr = 0x08;
/** The peer hung up (POLLHUP). */
export const EventHUp = 0x10;
/** Every event above. */
export const EventAll = EventIn | EventPri | EventOut | EventErr | EventHUp;

/**
 * A waiter. `callback` receives the events it asked for that happened
 * (the notified mask intersected with its registered mask). It runs inside
 * `notify`, so it should do little: record the event, resolve a promise,
 * schedule work.
 */
export interface Entry {
  callback(mask: EventMask): void;
}

/** Something that can be waited on (the seed's `Waitable`): every endpoint. */
export interface Waitable {
  /** The subset of `mask` that is ready now. */
  readiness(mask: EventMask): EventMask;
}

interface Slot {
  readonly entry: Entry;
  mask: EventMask;
}

/**
 * A wait queue. An entry may be in several queues, but at most once in each:
 * registering it again replaces its mask and keeps its place.
 *
 * Safe against changes from inside callbacks: an entry unregistered during
 * `notify` (itself or another) is not called afterwards in that pass, and an
 * entry registered during `notify` is first called by the next `notify`.
 */
export class Queue {
  /**
   * Registration order; `undefined` marks an entry removed during `notify` (compacted afterwards).
   * A queue holds one or two entries in practice, so an entry is found by a scan: no Map per
   * queue (there is a queue per connection; a Map's table cost ~0.2 KiB each, issue 10).
   */
  private slots: (Slot | undefined)[] = [];
  /** Depth of `notify` calls in progress (a callback may notify again). */
  private notifying = 0;
  private holes = 0;

  private indexOf(entry: Entry): number {
    const slots = this.slots;
    for (let i = 0; i < slots.length; i++) if (slots[i]?.entry === entry) return i;
    return -1;
  }

  /** Adds `entry`, to be called when any event in `mask` is notified. */
  register(entry: Entry, mask: EventMask): void {
    const i = this.indexOf(entry);
    if (i !== -1) {
      this.slots[i]!.mask = mask;
      return;
    }
    this.slots.push({ entry, mask });
  }

  /** Removes `entry`; does nothing if it is not registered. */
  unregister(entry: Entry): void {
    const i = this.indexOf(entry);
    if (i === -1) return;
    if (this.notifying > 0) {
      // Indexes must stay put while a notify loop walks them.
      this.slots[i] = undefined;
      this.holes++;
    } else {
      this.slots.splice(i, 1);
    }
  }

  /** Calls every entry whose mask shares a bit with `mask`, synchronously, in registration order. */
  notify(mask: EventMask): void {
    const slots = this.slots;
    // Entries registered by a callback land past `n` and wait for the next notify.
    const n = slots.length;
    if (n === 0) return;
    this.notifying++;
    try {
      for (let i = 0; i < n; i++) {
        const s = slots[i];
        if (s === undefined) continue;
        const m = s.mask & mask;
        if (m !== 0) s.entry.callback(m);
      }
    } finally {
      if (--this.notifying === 0 && this.holes > 0) this.compact();
    }
  }

  /** The union of the masks of all registered entries. */
  events(): EventMask {
    let m = 0;
    for (const s of this.slots) if (s !== undefined) m |= s.mask;
    return m;
  }

  /** Whether no entry is registered. */
  get isEmpty(): boolean {
    return this.size === 0;
  }

  /** The number of registered entries. */
  get size(): number {
    return this.slots.length - this.holes;
  }

  private compact(): void {
    let w = 0;
    for (let r = 0; r < this.slots.length; r++) {
      const s = this.slots[r];
      if (s !== undefined) this.slots[w++] = s;
    }
    this.slots.length = w;
    this.holes = 0;
  }
}

/**
 * Resolves with the ready events once `readiness(mask)` shares a bit with
 * `mask`, checking now and then after each `notify` of `queue`.
 *
 * Like poll(2), `EventErr` and `EventHUp` are always waited for too, so a
 * reader blocked on `EventIn` wakes when the connection fails or closes.
 * With `signal`, an abort unregisters the waiter and rejects with the
 * signal's reason.
 */
export function waitFor(
  queue: Queue,
  mask: EventMask,
  readiness: (mask: EventMask) => EventMask,
  signal?: AbortSignal,
): Promise<EventMask> {
  const want = mask | EventErr | EventHUp;
  const now = readiness(want) & want;
  if (now !== 0) return Promise.resolve(now);
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<EventMask>((resolve, reject) => {
    const onAbort = () => {
      queue.unregister(entry);
      reject(signal?.reason);
    };
    const entry: Entry = {
      callback() {
        const ready = readiness(want) & want;
        if (ready === 0) return;
        queue.unregister(entry);
        signal?.removeEventListener("abort", onAbort);
        resolve(ready);
      },
    };
    queue.register(entry, want);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
