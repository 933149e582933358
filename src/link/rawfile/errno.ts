/**
 * Linux errno values (x86_64 and the asm-generic table, which agree for all
 * of these) and the `Errno` error that rawfile wrappers throw.
 */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ENOSPC: 28,
  EPIPE: 32,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTSOCK: 88,
  EDESTADDRREQ: 89,
  EMSGSIZE: 90,
  EPROTOTYPE: 91,
  ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ECONNRESET: 104,
  ENOBUFS: 105,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTUNREACH: 113,
  EALREADY: 114,
  EINPROGRESS: 115,
} as const;

export type ErrnoCode = keyof typeof ERRNO;

const NAMES = new Map<number, ErrnoCode>();
for (const [k, v] of Object.entries(ERRNO)) NAMES.set(v, k as ErrnoCode);

const TEXT: Partial<Record<ErrnoCode, string>> = {
  EPERM: "operation not permitted",
  ENOENT: "no such file or directory",
  EINTR: "interrupted system call",
  EIO: "input/output error",
  ENXIO: "no such device or address",
  EBADF: "bad file descriptor",
  EAGAIN: "resource temporarily unavailable",
  ENOMEM: "out of memory",
  EACCES: "permission denied",
  EFAULT: "bad address",
  EBUSY: "device or resource busy",
  EEXIST: "file exists",
  ENODEV: "no such device",
  EINVAL: "invalid argument",
  EMFILE: "too many open files",
  ENOTTY: "inappropriate ioctl for device",
  EPIPE: "broken pipe",
  ENAMETOOLONG: "file name too long",
  ENOSYS: "function not implemented",
  EMSGSIZE: "message too long",
  EOPNOTSUPP: "operation not supported",
  EAFNOSUPPORT: "address family not supported",
  EADDRINUSE: "address already in use",
  EADDRNOTAVAIL: "cannot assign requested address",
  ENETDOWN: "network is down",
  ENOBUFS: "no buffer space available",
  ECONNREFUSED: "connection refused",
};

/** The symbolic name of an errno value (`"E123"` when not in the table). */
export function errnoName(errno: number): string {
  return NAMES.get(errno) ?? `E${errno}`;
}

/** A short description of an errno value, like strerror(3). */
export function errnoText(errno: number): string {
  const name = NAMES.get(errno);
  return (name && TEXT[name]) ?? `error ${errno}`;
}

/**
 * A failed system call. `code` is the symbolic name (`"EAGAIN"`, `"EPERM"`),
 * `errno` the number, `syscall` the call that failed.
 */
export class Errno extends Error {
  override name = "Errno";
  readonly code: string;

  constructor(
    readonly errno: number,
    readonly syscall: string,
    message?: string,
  ) {
    super(message ?? `${syscall}: ${errnoText(errno)} (${errnoName(errno)})`);
    this.code = errnoName(errno);
  }
}
