/**
 * A scripted peer: the test injects hand-built segments into one endpoint
 * and checks, segment by segment, what the endpoint sends back.
 */
import { expect } from "bun:test";
import { TCP_ACK, TCP_SYN, type TcpOptionFields } from "../../../header/tcp.ts";
import { seqAdd } from "../../../seqnum/seqnum.ts";
import { Address } from "../../../tcpip/address.ts";
import { ManualClock } from "../../../tcpip/clock.ts";
import { ErrConnectStarted } from "../../../tcpip/errors.ts";
import {
  IPV4_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
  type NetworkProtocolNumber,
} from "../../../tcpip/protocols.ts";
import { Queue } from "../../../waiter/waiter.ts";
import type { TcpEndpoint } from "../endpoint.ts";
import type { TcpStackOptions } from "../protocol-options.ts";
import { type BuildFields, buildSegment, decodeSegment, describe, type SegmentFields } from "./segments.ts";
import { TestStack } from "./test-stack.ts";

export interface PeerOptions {
  v6?: boolean;
  tcp?: Partial<TcpStackOptions>;
  mtu?: number;
  seed?: number;
}

/** Options a Linux peer puts in its SYN. */
export const LINUX_SYN_OPTIONS: TcpOptionFields = {
  mss: 1460,
  sackPermitted: true,
  timestamp: true,
  tsVal: 1000,
  tsEcr: 0,
  windowScale: 7,
};

export class RawPeer {
  readonly clock = new ManualClock(1000);
  readonly stack: TestStack;
  readonly local: Address;
  readonly remote: Address;
  readonly netProto: NetworkProtocolNumber;
  /** Segments the endpoint sent, oldest first, not yet taken by `next`. */
  readonly sent: SegmentFields[] = [];
  /** Every segment sent, described, for failure messages. */
  readonly log: string[] = [];
  remotePort = 50000;
  localPort = 80;

  constructor(o: PeerOptions = {}) {
    this.local = o.v6 ? Address.parse("fd00::1") : Address.parse("198.18.0.1");
    this.remote = o.v6 ? Address.parse("fd00::2") : Address.parse("198.18.0.2");
    this.netProto = o.v6 ? IPV6_PROTOCOL_NUMBER : IPV4_PROTOCOL_NUMBER;
    const init: ConstructorParameters<typeof TestStack>[0] = { addresses: [this.local], clock: this.clock };
    if (o.tcp) init.tcp = o.tcp;
    if (o.mtu) init.mtu = o.mtu;
    if (o.seed) init.seed = o.seed;
    this.stack = new TestStack(init);
    this.stack.wire = (bytes, src, dst, _np, tos) => {
      const s = decodeSegment(bytes, src, dst);
      expect(s.checksumOk).toBe(true);
      s.tos = tos;
      this.sent.push(s);
      this.log.push(describe(s));
    };
  }

  newEndpoint(): { ep: TcpEndpoint; wq: Queue } {
    const wq = new Queue();
    return { ep: this.stack.tcp.newEndpoint(this.netProto, wq), wq };
  }

  /** Injects a segment from the peer to the endpoint; `tos` is the IP TOS / Traffic Class it arrives in (ECN bits). */
  send(
    f: Omit<BuildFields, "srcPort" | "dstPort"> & { srcPort?: number; dstPort?: number; tos?: number },
  ): void {
    const { tos = 0, ...fields } = f;
    const b = buildSegment(
      { srcPort: this.remotePort, dstPort: this.localPort, ...fields },
      this.remote,
      this.local,
    );
    this.stack.deliver(b, this.remote, this.local, this.netProto, tos);
  }

  /** Injects raw bytes as a segment. */
  sendRaw(b: Uint8Array): void {
    this.stack.deliver(b, this.remote, this.local, this.netProto);
  }

  /** The next segment the endpoint sent. */
  next(): SegmentFields {
    const s = this.sent.shift();
    if (!s) throw new Error(`expected a segment, none was sent; log:\n${this.log.join("\n")}`);
    return s;
  }

  expectNone(): void {
    if (this.sent.length > 0)
      throw new Error(`expected no segment, got: ${this.sent.map(describe).join("; ")}`);
  }

  advance(ms: number): void {
    this.clock.advance(ms);
  }

  /**
   * Listens on `localPort` and completes a handshake from the peer side:
   * SYN → SYN-ACK → ACK. Returns the accepted endpoint and both ISNs.
   */
  acceptConnection(
    synOptions: TcpOptionFields = LINUX_SYN_OPTIONS,
    backlog = 10,
  ): { listener: TcpEndpoint; ep: TcpEndpoint; wq: Queue; iss: number; irs: number; synAck: SegmentFields } {
    const { ep: listener } = this.newEndpoint();
    listener.bind({ port: this.localPort });
    listener.listen(backlog);
    const irs = 5000;
    this.send({ flags: TCP_SYN, seq: irs, window: 65535, options: synOptions });
    const synAck = this.next();
    expect(synAck.flags).toBe(TCP_SYN | TCP_ACK);
    const ackOpts: TcpOptionFields | undefined = synOptions.timestamp
      ? { timestamp: true, tsVal: (synOptions.tsVal ?? 0) + 1, tsEcr: synAck.options.tsVal }
      : undefined;
    this.send({
      flags: TCP_ACK,
      seq: seqAdd(irs, 1),
      ack: seqAdd(synAck.seq, 1),
      window: 65535,
      ...(ackOpts ? { options: ackOpts } : {}),
    });
    const { endpoint, waiterQueue } = listener.accept();
    return { listener, ep: endpoint, wq: waiterQueue, iss: synAck.seq, irs, synAck };
  }

  /** Connects the endpoint to the peer and answers its SYN with a SYN-ACK; returns the endpoint's ISN. */
  connectEndpoint(
    synAckOptions: TcpOptionFields = LINUX_SYN_OPTIONS,
    peerIss = 9000,
  ): { ep: TcpEndpoint; wq: Queue; iss: number; irs: number; syn: SegmentFields } {
    const { ep, wq } = this.newEndpoint();
    expect(() => ep.connect({ addr: this.remote, port: this.remotePort })).toThrow(ErrConnectStarted);
    const syn = this.next();
    expect(syn.flags).toBe(TCP_SYN);
    this.localPort = syn.srcPort;
    const opts: TcpOptionFields = { ...synAckOptions };
    if (opts.timestamp) opts.tsEcr = syn.options.tsVal;
    this.send({
      flags: TCP_SYN | TCP_ACK,
      seq: peerIss,
      ack: seqAdd(syn.seq, 1),
      window: 65535,
      options: opts,
    });
    return { ep, wq, iss: syn.seq, irs: peerIss, syn };
  }
}
