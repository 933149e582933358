/*
 * tcpbench: the native peer of bench/tun.bench.ts. Plain kernel sockets, one
 * thread, no allocation in the loops, so the kernel baseline is not bounded by
 * a JavaScript runtime. The same binary is the client against both the kernel
 * server (over veth) and `netstack serve` (over TUN), so the ratio compares
 * the servers and paths only. Built by bench/lib/native.ts with `cc -O2`.
 *
 *   tcpbench server HOST DISCARD_PORT CHARGEN_PORT ECHO_PORT   (prints "ready"; SIGTERM stops it)
 *   tcpbench upload|download|rr|cps|idle HOST PORT N LIMIT_MS
 *
 * Client modes print one JSON line like bench/lib/client.ts:
 *   {"mode":..,"count":..,"bytes":..,"seconds":..,"capped":0|1[,"error":".."][,"p50us":..,"p99us":..]}
 * Every loop is bounded by N and by LIMIT_MS (plus socket timeouts), so it
 * always ends by itself.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char buf[1 << 18];
static volatile sig_atomic_t stop_flag;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

/* rr: p90, p99.9 and the maximum beside p50 and p99 (the shape of the tail). */
static double lat_p90 = -1, lat_p999 = -1, lat_max = -1;

static void report(const char *mode, long long count, long long bytes, double secs, int capped,
                   const char *error, double p50, double p99) {
  printf("{\"mode\":\"%s\",\"count\":%lld,\"bytes\":%lld,\"seconds\":%.6f,\"capped\":%s", mode, count, bytes,
         secs, capped ? "true" : "false");
  if (p50 >= 0) printf(",\"p50us\":%.1f,\"p99us\":%.1f", p50, p99);
  if (lat_max >= 0) printf(",\"p90us\":%.1f,\"p999us\":%.1f,\"maxus\":%.1f", lat_p90, lat_p999, lat_max);
  if (error) printf(",\"error\":\"%s\"", error);
  printf("}\n");
  fflush(stdout);
}

static struct sockaddr_in addr_of(const char *host, int port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
    fprintf(stderr, "bad IPv4 address %s\n", host);
    exit(2);
  }
  return a;
}

static void set_timeouts(int fd, double secs) {
  if (secs < 0.05) secs = 0.05;
  struct timeval tv = {(time_t)secs, (suseconds_t)((secs - (time_t)secs) * 1e6)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* Blocking connect bounded by timeout_s (SO_SNDTIMEO bounds connect on Linux). */
static int dial(struct sockaddr_in *a, double timeout_s, int nodelay) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (nodelay) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  set_timeouts(fd, timeout_s);
  if (connect(fd, (struct sockaddr *)a, sizeof *a) < 0) {
    /* A connect cut short by SO_SNDTIMEO reports EINPROGRESS: say what it means. */
    int e = errno == EINPROGRESS ? ETIMEDOUT : errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* ---------------------------------------------------------------- server */

enum kind { K_LISTEN_DISCARD, K_LISTEN_CHARGEN, K_LISTEN_ECHO, K_DISCARD, K_CHARGEN, K_ECHO };
#define MAXFD 65536
static unsigned char kind_of[MAXFD];
static char chargen[95 * 9 * 74];

static int listen_on(const char *host, int port) {
  struct sockaddr_in a = addr_of(host, port);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4096) < 0) {
    perror("bind/listen");
    exit(1);
  }
  return fd;
}

static int server(const char *host, int pd, int pc, int pe) {
  int o = 0;
  for (int l = 0; l < 95 * 9; l++) {
    for (int i = 0; i < 72; i++) chargen[o++] = (char)(32 + (l + i) % 95);
    chargen[o++] = '\r';
    chargen[o++] = '\n';
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  int ports[3] = {pd, pc, pe};
  for (int k = 0; k < 3; k++) {
    int fd = listen_on(host, ports[k]);
    kind_of[fd] = (unsigned char)k;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  printf("ready\n");
  fflush(stdout);
  struct epoll_event evs[256];
  while (!stop_flag) {
    int n = epoll_wait(ep, evs, 256, 200);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      int k = kind_of[fd];
      if (k <= K_LISTEN_ECHO) {
        for (;;) {
          int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          if (c >= MAXFD) {
            close(c);
            continue;
          }
          int one = 1;
          if (k != K_LISTEN_CHARGEN) setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          kind_of[c] = (unsigned char)(k + 3);
          struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (k == K_LISTEN_CHARGEN ? EPOLLOUT : 0),
                                   .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
        }
        continue;
      }
      int closeit = 0;
      if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        for (;;) {
          ssize_t r = read(fd, buf, sizeof buf);
          if (r > 0) {
            if (k == K_ECHO) {
              /* Echo: the replies here are small; a short write on a full buffer drops the rest. */
              ssize_t w = write(fd, buf, (size_t)r);
              (void)w;
            }
            continue;
          }
          if (r == 0) {
            /* Peer finished: discard and echo close their side, chargen stops. */
            closeit = 1;
          } else if (errno != EAGAIN && errno != EINTR) {
            closeit = 1;
          }
          break;
        }
      }
      if (!closeit && k == K_CHARGEN && (evs[i].events & EPOLLOUT)) {
        for (;;) {
          ssize_t w = write(fd, chargen, sizeof chargen);
          if (w < 0) {
            if (errno != EAGAIN && errno != EINTR) closeit = 1;
            break;
          }
        }
      }
      if (closeit) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
        close(fd);
      }
    }
  }
  return 0;
}

/* ---------------------------------------------------------------- clients */

static int upload(struct sockaddr_in *a, long long n, double limit) {
  double t0 = now_s(), end = t0 + limit;
  int fd = dial(a, limit, 0);
  if (fd < 0) {
    report("upload", 0, 0, 0, 0, strerror(errno), -1, -1);
    return 1;
  }
  t0 = now_s();
  long long sent = 0;
  int capped = 0;
  set_timeouts(fd, 0.2);
  while (sent < n) {
    if (now_s() >= end) {
      capped = 1;
      break;
    }
    size_t want = (size_t)((n - sent) < (long long)sizeof buf ? (n - sent) : (long long)sizeof buf);
    ssize_t w = write(fd, buf, want);
    if (w > 0) sent += w;
    else if (w < 0 && errno != EAGAIN && errno != EINTR) {
      report("upload", sent, sent, now_s() - t0, 0, strerror(errno), -1, -1);
      return 1;
    }
  }
  if (capped) {
    /* Bytes still in our socket's send buffer have not been delivered. */
    int outq = 0;
    if (ioctl(fd, SIOCOUTQ, &outq) < 0) outq = 0;
    report("upload", sent - outq, sent - outq, now_s() - t0, 1, NULL, -1, -1);
    close(fd);
    return 0;
  }
  /* Half-close and wait for the discard server's FIN: then every byte has been read. */
  shutdown(fd, SHUT_WR);
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r == 0) break;
    if (r < 0 && errno != EAGAIN && errno != EINTR) break;
    if (now_s() >= end + 2) {
      report("upload", sent, sent, now_s() - t0, 1, "no FIN from the server", -1, -1);
      close(fd);
      return 1;
    }
  }
  report("upload", sent, sent, now_s() - t0, 0, NULL, -1, -1);
  close(fd);
  return 0;
}

static int download(struct sockaddr_in *a, long long n, double limit) {
  double t0 = now_s(), end = t0 + limit;
  int fd = dial(a, limit, 0);
  if (fd < 0) {
    report("download", 0, 0, 0, 0, strerror(errno), -1, -1);
    return 1;
  }
  t0 = now_s();
  long long got = 0;
  int capped = 0;
  const char *err = NULL;
  set_timeouts(fd, 0.2);
  while (got < n) {
    if (now_s() >= end) {
      capped = 1;
      break;
    }
    ssize_t r = read(fd, buf, sizeof buf);
    if (r > 0) got += r;
    else if (r == 0) {
      err = "server closed early";
      break;
    } else if (errno != EAGAIN && errno != EINTR) {
      err = strerror(errno);
      break;
    }
  }
  report("download", got, got, now_s() - t0, capped, err, -1, -1);
  close(fd);
  return err ? 1 : 0;
}

static int cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}

static int rr(struct sockaddr_in *a, long long n, double limit) {
  double t0 = now_s(), end = t0 + limit;
  int fd = dial(a, limit, 1);
  if (fd < 0) {
    report("rr", 0, 0, 0, 0, strerror(errno), -1, -1);
    return 1;
  }
  double *rtt = malloc(sizeof(double) * (size_t)n);
  long long done = 0;
  int capped = 0;
  const char *err = NULL;
  set_timeouts(fd, 2.0);
  t0 = now_s();
  char c = 'x';
  while (done < n) {
    double ts = now_s();
    if (ts >= end) {
      capped = 1;
      break;
    }
    if (write(fd, &c, 1) != 1) {
      err = strerror(errno);
      break;
    }
    ssize_t r = read(fd, &c, 1);
    if (r != 1) {
      err = r == 0 ? "server closed" : errno == EAGAIN ? "no reply within 2 s (stall)" : strerror(errno);
      break;
    }
    rtt[done++] = now_s() - ts;
  }
  double secs = now_s() - t0;
  qsort(rtt, (size_t)done, sizeof(double), cmp_double);
  double p50 = done ? rtt[done / 2] * 1e6 : 0, p99 = done ? rtt[done * 99 / 100] * 1e6 : 0;
  if (done) {
    lat_p90 = rtt[done * 90 / 100] * 1e6;
    lat_p999 = rtt[done * 999 / 1000] * 1e6;
    lat_max = rtt[done - 1] * 1e6;
  }
  report("rr", done, done, secs, capped, err, p50, p99);
  close(fd);
  return err ? 1 : 0;
}

static int cps(struct sockaddr_in *a, long long n, double limit) {
  double t0 = now_s(), end = t0 + limit;
  long long done = 0, failed = 0;
  int capped = 0;
  char lasterr[128] = "";
  char c = 'y';
  while (done < n) {
    if (now_s() >= end) {
      capped = 1;
      break;
    }
    int fd = dial(a, 1.0, 1);
    if (fd < 0) {
      snprintf(lasterr, sizeof lasterr, "connect: %s", strerror(errno));
      if (++failed > 20) break;
      continue;
    }
    int ok = write(fd, &c, 1) == 1 && read(fd, &c, 1) == 1;
    if (ok) {
      /* Close after the echo; wait for the server's FIN so connections do not overlap. */
      shutdown(fd, SHUT_WR);
      ok = read(fd, &c, 1) == 0;
    }
    close(fd);
    if (ok) done++;
    else {
      snprintf(lasterr, sizeof lasterr, "echo/close: %s", errno == EAGAIN ? "stall (1 s)" : strerror(errno));
      if (++failed > 20) break;
    }
  }
  char e[200];
  if (failed) snprintf(e, sizeof e, "%lld failed, last %s", failed, lasterr);
  report("cps", done, done, now_s() - t0, capped, failed ? e : NULL, -1, -1);
  return 0;
}

/*
 * Idle mode options from the environment (used by tun.bench.ts --scale):
 *   TCPBENCH_SRC="a.b.c.d,..."  source addresses, round robin (one address has ~55,000 ports);
 *   TCPBENCH_ECHO_SAMPLE=K      after opening, K connections spread over all of them each echo a
 *                               byte (prints "echoed OK/K"), to show that held connections work;
 *   TCPBENCH_CLOSE_BATCH=B      on SIGTERM, close B connections per 20 ms (default 100).
 */
static int dial_from(struct sockaddr_in *a, const struct sockaddr_in *src) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  set_timeouts(fd, 2.0);
  int one = 1;
  /* The port is chosen at connect time, for the whole 4-tuple (more ports per source address). */
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  if (bind(fd, (const struct sockaddr *)src, sizeof *src) < 0 ||
      connect(fd, (struct sockaddr *)a, sizeof *a) < 0) {
    int e = errno == EINPROGRESS ? ETIMEDOUT : errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

static int idle(struct sockaddr_in *a, long long n, double limit) {
  double t0 = now_s(), end = t0 + limit;
  int *fds = calloc((size_t)n, sizeof(int));
  long long open_ = 0, failed = 0;
  int lasterr = 0;
  struct sockaddr_in srcs[64];
  int nsrc = 0;
  const char *env = getenv("TCPBENCH_SRC");
  if (env && *env) {
    char list[2048];
    snprintf(list, sizeof list, "%s", env);
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t && nsrc < 64; t = strtok_r(NULL, ",", &save))
      srcs[nsrc++] = addr_of(t, 0);
  }
  for (long long i = 0; i < n && now_s() < end && !stop_flag; i++) {
    int fd = nsrc ? dial_from(a, &srcs[i % nsrc]) : dial(a, 2.0, 0);
    if (fd < 0) {
      failed++;
      lasterr = errno;
    } else
      fds[open_++] = fd;
    if (failed > 1000 && failed > open_) break;
  }
  printf("open %lld\n", open_);
  fflush(stdout);
  const char *sample = getenv("TCPBENCH_ECHO_SAMPLE");
  long long k = sample ? atoll(sample) : 0;
  if (k > open_) k = open_;
  if (k > 0) {
    long long ok = 0, step = open_ / k;
    for (long long j = 0; j < k && !stop_flag; j++) {
      int fd = fds[j * step];
      char c = 'z';
      if (write(fd, &c, 1) == 1 && read(fd, &c, 1) == 1 && c == 'z') ok++;
    }
    printf("echoed %lld/%lld\n", ok, k);
    fflush(stdout);
  }
  while (!stop_flag && now_s() < end) poll(NULL, 0, 50);
  /* Paced: 10,000 FINs at once overflow the TUN queue (qlen 500) towards the stack, and the kernel then
   * retransmits them for many seconds with backoff, which the next figure would run into.
   * TCPBENCH_CLOSE_BATCH: connections closed per 20 ms (default 100). */
  const char *cb = getenv("TCPBENCH_CLOSE_BATCH");
  long long batch = cb && atoll(cb) > 0 ? atoll(cb) : 100;
  for (long long i = 0; i < open_; i++) {
    close(fds[i]);
    if (i % batch == batch - 1) poll(NULL, 0, 20);
  }
  char e[160];
  if (failed) snprintf(e, sizeof e, "%lld connections failed, last: %s", failed, strerror(lasterr));
  report("idle", open_, 0, now_s() - t0, !stop_flag, failed ? e : NULL, -1, -1);
  return 0;
}

/* Idle mode holds 10,000 sockets and the server accepts as many: raise the descriptor limit. */
static void raise_nofile(void) {
  struct rlimit r;
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return;
  rlim_t want = 200000;
  if (r.rlim_max < want) {
    struct rlimit h = {want, want};
    if (setrlimit(RLIMIT_NOFILE, &h) == 0) return;
  }
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  raise_nofile();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  memset(buf, 'a', sizeof buf);
  if (argc >= 6 && strcmp(argv[1], "server") == 0) return server(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
  if (argc < 6) {
    fprintf(stderr, "usage: tcpbench server HOST DP CP EP | upload|download|rr|cps|idle HOST PORT N LIMIT_MS\n");
    return 2;
  }
  struct sockaddr_in a = addr_of(argv[2], atoi(argv[3]));
  long long n = atoll(argv[4]);
  double limit = atof(argv[5]) / 1000.0;
  const char *m = argv[1];
  if (!strcmp(m, "upload")) return upload(&a, n, limit);
  if (!strcmp(m, "download")) return download(&a, n, limit);
  if (!strcmp(m, "rr")) return rr(&a, n, limit);
  if (!strcmp(m, "cps")) return cps(&a, n, limit);
  if (!strcmp(m, "idle")) return idle(&a, n, limit);
  fprintf(stderr, "unknown mode %s\n", m);
  return 2;
}
