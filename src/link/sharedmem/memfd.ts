import { ErrInvalidOptionValue } from "../../tcpip/errors.ts";
import { close, O_CLOEXEC, O_RDWR, open } from "../rawfile/index.ts";
import {
  addSeals,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  fileSize,
  ftruncate,
  getSeals,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  mapShared,
  memfdCreate,
} from "../rawfile/mem.ts";
import {
  initSharedMemRegion,
  readSharedMemRegion,
  type SharedMemRegionOptions,
  sharedMemRegionSize,
} from "./region.ts";

/**
 * A sharedmem region in a memfd, for a peer in another process: create it
 * here, pass the fd to the child (for example as an extra `Bun.spawn` stdio
 * entry, where it becomes fd 3), and the child maps the same pages with
 * `openMemfdRegion(3)`.
 *
 * The memfd is sealed against shrinking and growing before anyone else can
 * see it, and the opener insists on those seals: otherwise the other process
 * could truncate the file under our mapping and the next access to the
 * missing pages would kill us with SIGBUS, a thing no bounds check catches.
 *
 * The mapping is an ordinary ArrayBuffer, not a SharedArrayBuffer, so the
 * engine's `Atomics.waitAsync` cannot sleep on it: endpoints over it notice
 * this and re-check an idle lane every `pollMs` instead (queue/notifier.ts).
 */
export interface MemfdRegion {
  /** The memfd (close-on-exec); pass it to the peer, close it when the peer has it. */
  fd: number;
  /** The whole region, mapped shared. */
  buffer: ArrayBuffer;
}

const REQUIRED_SEALS = F_SEAL_SHRINK | F_SEAL_GROW;

export function createMemfdRegion(
  opts: SharedMemRegionOptions = {},
  name = "netstack-sharedmem",
): MemfdRegion {
  const size = sharedMemRegionSize(opts);
  const fd = memfdCreate(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  try {
    ftruncate(fd, size);
    addSeals(fd, REQUIRED_SEALS | F_SEAL_SEAL);
    const buffer = mapShared(fd, size);
    initSharedMemRegion(buffer, opts);
    return { fd, buffer };
  } catch (e) {
    close(fd);
    throw e;
  }
}

/**
 * Maps a region another process created with `createMemfdRegion`, given its
 * fd in this process or a path to it (`/proc/<pid>/fd/<n>`). The fd is not
 * closed; a path is opened and closed again (the mapping stays). Throws
 * `ErrInvalidOptionValue` for a file that is not a sealed, complete region.
 */
export function openMemfdRegion(fdOrPath: number | string): ArrayBuffer {
  const fd = typeof fdOrPath === "number" ? fdOrPath : open(fdOrPath, O_RDWR | O_CLOEXEC);
  try {
    if ((getSeals(fd) & REQUIRED_SEALS) !== REQUIRED_SEALS) throw new ErrInvalidOptionValue();
    const size = fileSize(fd);
    if (size < 64) throw new ErrInvalidOptionValue();
    const buffer = mapShared(fd, size);
    readSharedMemRegion(buffer);
    return buffer;
  } finally {
    if (typeof fdOrPath === "string") close(fd);
  }
}
