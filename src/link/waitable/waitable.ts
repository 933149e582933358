/**
 * A link wrapper whose two directions can be shut like gates (gVisor's
 * `link/waitable`), for tearing a stack down in order: `waitDispatch()` stops
 * new inbound deliveries and resolves when the ones in progress have
 * returned; `waitWrite()` does the same for writes.
 *
 * After a gate is shut, packets through it are dropped and counted. Dropped
 * writes are reported as accepted, as the seed does: the caller is going away
 * and must not retry or count them as errors. A gate stays shut.
 *
 * JavaScript runs one call at a time, so "in progress" means a call further
 * up the current stack: `waitDispatch()` called from inside a delivery
 * resolves once that delivery returns; called from outside, it resolves at once.
 */
import type { PacketBuffer } from "../../buffer/packet-buffer.ts";
import type { LinkEndpoint, NetworkDispatcher } from "../link-endpoint.ts";

/** Counts callers inside; once closed, refuses new ones and tells waiters when the last leaves. */
class Gate {
  private inside = 0;
  private shut = false;
  private waiters: (() => void)[] = [];

  enter(): boolean {
    if (this.shut) return false;
    this.inside++;
    return true;
  }

  leave(): void {
    this.inside--;
    if (this.shut && this.inside === 0) {
      const w = this.waiters;
      this.waiters = [];
      for (const fn of w) fn();
    }
  }

  close(): Promise<void> {
    this.shut = true;
    if (this.inside === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  get closed(): boolean {
    return this.shut;
  }
}

export class WaitableEndpoint implements LinkEndpoint, NetworkDispatcher {
  readonly stats = {
    /** Inbound packets dropped after `waitDispatch()`. */
    droppedDispatches: 0,
    /** Outbound packets dropped after `waitWrite()`. */
    droppedWrites: 0,
  };

  private dispatcher: NetworkDispatcher | undefined;
  private readonly dispatchGate = new Gate();
  private readonly writeGate = new Gate();

  constructor(readonly lower: LinkEndpoint) {}

  get mtu(): number {
    return this.lower.mtu;
  }
  get capabilities(): number {
    return this.lower.capabilities;
  }
  get maxHeaderLength(): number {
    return this.lower.maxHeaderLength;
  }
  get linkAddress() {
    return this.lower.linkAddress;
  }
  get gsoMaxSize(): number {
    return this.lower.gsoMaxSize ?? 0;
  }
  get carriesFrames(): boolean {
    return this.lower.carriesFrames === true;
  }

  attach(dispatcher: NetworkDispatcher | undefined): void {
    this.dispatcher = dispatcher;
    this.lower.attach(dispatcher ? this : undefined);
  }

  isAttached(): boolean {
    return this.dispatcher !== undefined;
  }

  deliverNetworkPacket(protocol: number, pkt: PacketBuffer): void {
    const d = this.dispatcher;
    if (!d) return;
    if (!this.dispatchGate.enter()) {
      this.stats.droppedDispatches++;
      return;
    }
    try {
      d.deliverNetworkPacket(protocol, pkt);
    } finally {
      this.dispatchGate.leave();
    }
  }

  writePackets(pkts: readonly PacketBuffer[]): number {
    if (!this.writeGate.enter()) {
      this.stats.droppedWrites += pkts.length;
      return pkts.length;
    }
    try {
      return this.lower.writePackets(pkts);
    } finally {
      this.writeGate.leave();
    }
  }

  /** Stops new inbound deliveries; resolves when the ones in progress have returned. */
  waitDispatch(): Promise<void> {
    return this.dispatchGate.close();
  }

  /** Stops new writes; resolves when the ones in progress have returned. */
  waitWrite(): Promise<void> {
    return this.writeGate.close();
  }

  get dispatchClosed(): boolean {
    return this.dispatchGate.closed;
  }

  get writeClosed(): boolean {
    return this.writeGate.closed;
  }

  /** Waits for the lower link's in-flight work. */
  wait(): Promise<void> {
    return this.lower.wait?.() ?? Promise.resolve();
  }

  close(): void {
    this.lower.close?.();
  }
}
