/**
 * A TCP forwarder (like the seed's tcp.Forwarder): SYNs for which the stack has
 * no endpoint at all (no listener, no connection) are handed to a callback
 * with their 4-tuple instead of being answered with RST. The callback decides,
 * now or later, with `request.complete(accept)`:
 *
 * - accept: a connection is made for the 4-tuple, as a listener would make
 *   its child (SYN-ACK sent, RFC 9293 §3.10.7.2), and returned at once with a
 *   fresh waiter queue. The endpoint is non-blocking: it reports EventOut when
 *   the handshake completes (as after `connect`), EventErr/EventHUp if it fails.
 * - refuse: the SYN is answered as for a closed port, `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`
 *   (RFC 9293 §3.10.7.1).
 *
 * Requests are in flight from the SYN until they are refused or their handshake
 * ends; at most `maxInFlight` are, and SYNs beyond that are dropped and counted
 * (the peer retransmits). A retransmitted SYN for a request still undecided is
 * dropped too. With spoofing and promiscuous mode on the NIC, the 4-tuple may
 * name addresses the stack does not own: a transparent proxy.
 */
import type { TransportEndpointId, TransportPacketInfo } from "../../stack/registration.ts";
import { ErrInvalidEndpointState } from "../../tcpip/errors.ts";
import { type NetworkProtocolNumber, TCP_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { Queue } from "../../waiter/waiter.ts";
import type { TcpEndpoint } from "./endpoint.ts";
import { newConnection } from "./listen.ts";
import type { TcpProtocol } from "./protocol.ts";
import { replyWithReset } from "./rst.ts";
import { Segment } from "./segment.ts";

export interface TcpForwarderOptions {
  /** Requests undecided or mid-handshake at one time; more SYNs are dropped. */
  maxInFlight: number;
}

/** One incoming SYN that matched no endpoint. */
export class ForwarderRequest {
  private done = false;

  constructor(
    private readonly forwarder: TcpForwarder,
    /** Local = the SYN's destination, remote = its source. */
    readonly id: Readonly<TransportEndpointId>,
    readonly netProto: NetworkProtocolNumber,
    readonly nic: number,
    /** A copy of the SYN (the stack reuses its segments). */
    private readonly syn: Segment,
    private readonly info: TransportPacketInfo,
  ) {}

  /**
   * Accepts (returns the connection in SYN-RECEIVED with its waiter queue, or
   * undefined if it could not be made, e.g. no route) or refuses with RST.
   * A request is completed once; again throws ErrInvalidEndpointState.
   */
  complete(accept: true): { endpoint: TcpEndpoint; waiterQueue: Queue } | undefined;
  complete(accept: false): undefined;
  complete(accept: boolean): { endpoint: TcpEndpoint; waiterQueue: Queue } | undefined;
  complete(accept: boolean): { endpoint: TcpEndpoint; waiterQueue: Queue } | undefined {
    if (this.done) throw new ErrInvalidEndpointState();
    this.done = true;
    return this.forwarder.finish(this, accept, this.syn, this.info);
  }
}

export class TcpForwarder {
  /** SYNs dropped because `maxInFlight` requests were in flight. */
  dropped = 0;
  /** Requests handed to the callback. */
  requests = 0;
  private readonly inFlight = new Map<string, ForwarderRequest>();
  /** An unregistered endpoint per network protocol that stands as the parent of new connections. */
  private readonly parents = new Map<NetworkProtocolNumber, TcpEndpoint>();
  private readonly proto: TcpProtocol;
  readonly maxInFlight: number;

  constructor(
    /** The stack (a `Stack`) whose TCP protocol gets the forwarder. */
    stack: { transportProtocol(n: typeof TCP_PROTOCOL_NUMBER): unknown },
    opts: TcpForwarderOptions,
    private readonly handler: (request: ForwarderRequest) => void,
  ) {
    const p = stack.transportProtocol(TCP_PROTOCOL_NUMBER) as TcpProtocol | undefined;
    if (!p || typeof (p as Partial<TcpProtocol>).setForwarder !== "function")
      throw new ErrInvalidEndpointState();
    this.proto = p;
    this.maxInFlight = Math.max(1, opts.maxInFlight | 0);
    p.setForwarder((seg, info) => this.onSegment(seg, info));
  }

  /** Stops forwarding: unknown SYNs get RST again. Connections already made live on. */
  close(): void {
    this.proto.setForwarder(undefined);
  }

  /** The number of requests now in flight. */
  get pending(): number {
    return this.inFlight.size;
  }

  private onSegment(seg: Segment, info: TransportPacketInfo): boolean {
    // Only a bare SYN starts a connection (RFC 9293 §3.10.7.2); anything else gets the usual RST.
    if (!seg.syn || seg.hasAck || seg.rst) return false;
    const key = `${info.nic}|${info.dst.key}|${seg.dstPort}|${info.src.key}|${seg.srcPort}`;
    if (this.inFlight.has(key)) return true;
    if (this.inFlight.size >= this.maxInFlight) {
      this.dropped++;
      return true;
    }
    const copy = new Segment();
    copy.srcPort = seg.srcPort;
    copy.dstPort = seg.dstPort;
    copy.seq = seg.seq;
    copy.ack = seg.ack;
    copy.flags = seg.flags;
    copy.window = seg.window;
    Object.assign(copy.options, seg.options, { sackBlocks: [] });
    const req = new ForwarderRequest(
      this,
      { localAddress: info.dst, localPort: seg.dstPort, remoteAddress: info.src, remotePort: seg.srcPort },
      info.netProto,
      info.nic,
      copy,
      { ...info },
    );
    (req as unknown as { key: string }).key = key;
    this.inFlight.set(key, req);
    this.requests++;
    this.handler(req);
    return true;
  }

  /** @internal ForwarderRequest.complete. */
  finish(
    req: ForwarderRequest,
    accept: boolean,
    syn: Segment,
    info: TransportPacketInfo,
  ): { endpoint: TcpEndpoint; waiterQueue: Queue } | undefined {
    const key = (req as unknown as { key: string }).key;
    const release = () => {
      if (this.inFlight.get(key) === req) this.inFlight.delete(key);
    };
    if (!accept) {
      release();
      replyWithReset(this.proto.stack, info, syn);
      return undefined;
    }
    const parent = this.parentFor(info.netProto);
    const child = newConnection(parent, syn, info, undefined);
    if (!child) {
      release();
      return undefined;
    }
    // The connection belongs to the caller, not to a listener: no accept queue to pass through.
    parent.synQueue.delete(child);
    child.listener = undefined;
    const q = new Queue();
    child.waiterQueue = {
      notify(mask: number) {
        if (child.state !== "SYN-RECEIVED") release();
        q.notify(mask);
      },
    };
    return { endpoint: child, waiterQueue: q };
  }

  private parentFor(netProto: NetworkProtocolNumber): TcpEndpoint {
    let p = this.parents.get(netProto);
    if (!p) {
      p = this.proto.newEndpoint(netProto, { notify() {} });
      this.parents.set(netProto, p);
    }
    return p;
  }
}
