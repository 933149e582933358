/**
 * Child process for the crash-safety test: makes configuration changes in a
 * loop and prints the id of each one after its transaction committed. The
 * parent kills it with SIGKILL at a random moment.
 */
import { Store } from "../store.ts";

const path = process.argv[2]!;
const st = Store.open(path);
for (let i = 0; ; i++) {
  const r = st.addRoute({
    destination: `198.19.${i % 256}.0/24`,
    gateway: "198.18.0.1",
    nic: "tun0",
    metric: i,
  });
  st.addAddress("tun0", `198.18.${(i >> 8) % 256}.${i % 256}/32`);
  if (i % 3 === 0) st.setSetting("counter", String(i));
  process.stdout.write(`${r.id}\n`);
}
