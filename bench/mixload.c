/* A mixed Redis load that redis-benchmark cannot make: on C connections,
 * each keeping P requests in flight, GET and SET of one key (MIX percent
 * of the requests between them, half each) and MSET of 10 keys (the rest),
 * keys "key:%012d" drawn from 0..99999 and 16-byte values, as
 * redis-benchmark's -r 100000 -d 16. With KIND exec, the rest are
 * transactions instead: MULTI, SET of a key, RENAME of it to another, EXEC
 * (over shards, a joint in stewardd). Prints "mixload RATE" (requests per
 * second, an MSET or a whole transaction counting one) and exits 1 on an
 * error reply.
 *
 * Usage: mixload PORT REQUESTS [CLIENTS=50] [PIPELINE=1] [MIX=90] [KIND=mset]
 *
 * One thread and epoll, as redis-benchmark is: the load generator costs
 * the same CPU against either server.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSET_KEYS 10

struct client {
    int fd;
    long inflight; /* replies to come: lines, an array's header and elements each one */
    long batch;    /* requests in flight */
    char out[64 * 1024];
    size_t olen, opos;
    char in[64 * 1024];
    size_t ilen;
    long skip; /* bytes of a bulk reply still to come */
};

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Appends one request, drawn from the mix, to c's output. */
static void add_request(struct client *c, int mix, int exec)
{
    char *p = c->out + c->olen;
    int r = (int)(next_rand() % 100), n;
    if (r < mix / 2) {
        n = sprintf(p, "*2\r\n$3\r\nGET\r\n$16\r\nkey:%012d\r\n", (int)(next_rand() % 100000));
    } else if (r < mix) {
        n = sprintf(p, "*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$16\r\nval:%012d\r\n",
                    (int)(next_rand() % 100000), r);
    } else if (exec) { /* +OK, +QUEUED twice, then *2 with +OK twice */
        int a = (int)(next_rand() % 100000), b = (int)(next_rand() % 100000);
        n = sprintf(p,
                    "*1\r\n$5\r\nMULTI\r\n"
                    "*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$16\r\nval:%012d\r\n"
                    "*3\r\n$6\r\nRENAME\r\n$16\r\nkey:%012d\r\n$16\r\nkey:%012d\r\n"
                    "*1\r\n$4\r\nEXEC\r\n",
                    a, r, a, b);
        c->inflight += 5;
    } else {
        n = sprintf(p, "*%d\r\n$4\r\nMSET\r\n", 1 + 2 * MSET_KEYS);
        for (int i = 0; i < MSET_KEYS; i++)
            n += sprintf(p + n, "$16\r\nkey:%012d\r\n$16\r\nval:%012d\r\n",
                         (int)(next_rand() % 100000), i);
    }
    c->olen += (size_t)n;
    c->inflight++;
    c->batch++;
}

/* Counts the whole replies in c's input (+, -, : lines and $ bulks);
 * returns how many, or -1 on an error reply. */
static long take_replies(struct client *c)
{
    long done = 0;
    size_t pos = 0;
    for (;;) {
        if (c->skip > 0) {
            size_t have = c->ilen - pos;
            size_t take = have < (size_t)c->skip ? have : (size_t)c->skip;
            pos += take;
            c->skip -= (long)take;
            if (c->skip > 0)
                break;
            done++;
            continue;
        }
        char *eol = memchr(c->in + pos, '\n', c->ilen - pos);
        if (!eol)
            break;
        char type = c->in[pos];
        if (type == '-') {
            fprintf(stderr, "mixload: error reply: %.*s\n", (int)(eol - c->in - pos), c->in + pos);
            return -1;
        }
        if (type == '$') {
            long len = strtol(c->in + pos + 1, NULL, 10);
            pos = (size_t)(eol - c->in) + 1;
            if (len < 0) {
                done++;
            } else {
                c->skip = len + 2;
            }
            continue;
        }
        pos = (size_t)(eol - c->in) + 1;
        done++;
    }
    memmove(c->in, c->in + pos, c->ilen - pos);
    c->ilen -= pos;
    return done;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(
            stderr,
            "usage: mixload PORT REQUESTS [CLIENTS=50] [PIPELINE=1] [MIX=90] [KIND=mset|exec]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    long total = atol(argv[2]);
    int nc = argc > 3 ? atoi(argv[3]) : 50, pipeline = argc > 4 ? atoi(argv[4]) : 1;
    int mix = argc > 5 ? atoi(argv[5]) : 90;
    int exec = argc > 6 && strcmp(argv[6], "exec") == 0;
    if (argc > 6 && !exec && strcmp(argv[6], "mset") != 0) {
        fprintf(stderr, "mixload: KIND is mset or exec, not '%s'\n", argv[6]);
        return 2;
    }
    struct client *cs = calloc((size_t)nc, sizeof *cs);
    int ep = epoll_create1(0);
    if (!cs || ep < 0)
        return 2;
    long sent = 0, done = 0;
    for (int i = 0; i < nc; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
            fprintf(stderr, "mixload: cannot connect to port %d: %s\n", port, strerror(errno));
            return 1;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        cs[i].fd = fd;
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = &cs[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
    }
    double t0 = now_s();
    for (int i = 0; i < nc; i++) {
        for (int j = 0; j < pipeline && sent < total; j++, sent++)
            add_request(&cs[i], mix, exec);
        if (write(cs[i].fd, cs[i].out, cs[i].olen) != (ssize_t)cs[i].olen)
            return 1;
        cs[i].olen = 0;
    }
    struct epoll_event ev[256];
    while (done < total) {
        int n = epoll_wait(ep, ev, 256, 10000);
        if (n <= 0) {
            fprintf(stderr, "mixload: no reply for 10 s\n");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct client *c = ev[i].data.ptr;
            ssize_t r = read(c->fd, c->in + c->ilen, sizeof c->in - c->ilen);
            if (r <= 0) {
                fprintf(stderr, "mixload: connection lost\n");
                return 1;
            }
            c->ilen += (size_t)r;
            long got = take_replies(c);
            if (got < 0)
                return 1;
            c->inflight -= got;
            if (c->inflight > 0)
                continue;
            done += c->batch;
            c->batch = 0;
            /* A new batch once the whole pipeline is back, as
             * redis-benchmark -P does. */
            if (sent < total) {
                for (int j = 0; j < pipeline && sent < total; j++, sent++)
                    add_request(c, mix, exec);
                if (write(c->fd, c->out, c->olen) != (ssize_t)c->olen)
                    return 1;
                c->olen = 0;
            }
        }
    }
    printf("mixload %.0f\n", (double)total / (now_s() - t0));
    return 0;
}
