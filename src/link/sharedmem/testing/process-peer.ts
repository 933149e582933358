/**
 * A child process for the cross-process test: maps the sharedmem region it
 * is given (fd 3, passed as an extra stdio entry), opens side 1, and sends
 * every packet it receives straight back. It exits 0 after echoing the end
 * marker (`END_MARKER` in peer-worker.ts), or 2 if nothing arrives for 20 s.
 */
import { PacketBuffer } from "../../../buffer/packet-buffer.ts";
import { packetSeq } from "../../testing/conformance.ts";
import { openMemfdRegion } from "../memfd.ts";
import { SharedMemEndpoint } from "../sharedmem.ts";

const END_MARKER = 0xffffffff;
const fdArg = process.argv[2] ?? "3";
const buffer = openMemfdRegion(/^\d+$/.test(fdArg) ? Number(fdArg) : fdArg);
const link = new SharedMemEndpoint(buffer, { side: 1 });
let last = Date.now();
const guard = setInterval(() => {
  if (Date.now() - last > 20_000) process.exit(2);
}, 500);
const pending: PacketBuffer[] = [];

link.attach({
  deliverNetworkPacket: (protocol, pkt) => {
    last = Date.now();
    const echo = PacketBuffer.wrap(pkt.bytes());
    echo.networkProtocol = protocol;
    pending.push(echo);
    flush();
    if (packetSeq(pkt.bytes()) === END_MARKER) void finish();
  },
});

function flush(): void {
  if (pending.length === 0) return;
  const n = link.writePackets(pending);
  pending.splice(0, n);
}

async function finish(): Promise<void> {
  while (pending.length > 0) {
    await link.waitWritable(1);
    flush();
  }
  clearInterval(guard);
  // Give the parent time to read the echo of the marker before our lane's memory goes.
  setTimeout(() => process.exit(0), 50);
}
