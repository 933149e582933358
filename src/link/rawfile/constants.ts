/** Linux constants for the calls in `syscalls.ts` (x86_64/aarch64 values). */

export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_NONBLOCK = 0x800;
export const O_CLOEXEC = 0x80000;

export const F_GETFL = 3;
export const F_SETFL = 4;

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_PACKET = 17;

export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_SEQPACKET = 5;
export const SOCK_NONBLOCK = 0x800;
export const SOCK_CLOEXEC = 0x80000;

export const POLLIN = 0x1;
export const POLLPRI = 0x2;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;

export const EPOLL_CLOEXEC = 0x80000;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;
export const EPOLLIN = 0x1;
export const EPOLLOUT = 0x4;
export const EPOLLERR = 0x8;
export const EPOLLHUP = 0x10;
export const EPOLLET = 1 << 31;

export const EFD_NONBLOCK = 0x800;
export const EFD_CLOEXEC = 0x80000;

export const CLONE_NEWNET = 0x40000000;

/** `struct iovec` is { void *base; size_t len }: 16 bytes on 64-bit. */
export const IOVEC_SIZE = 16;
/** `struct pollfd` is { int fd; short events; short revents }: 8 bytes. */
export const POLLFD_SIZE = 8;
/** `struct epoll_event` is packed on x86_64: { u32 events; u64 data }: 12 bytes. */
export const EPOLL_EVENT_SIZE = process.arch === "x64" ? 12 : 16;
