// SPDX-License-Identifier: GPL-2.0
/*
 * labio: direct I/O with a checkable pattern, for the xen-dix lab guests.
 *
 *   labio write  DEV OFFSET SIZE BS SEED [DEPTH]
 *   labio verify DEV OFFSET SIZE BS SEED [DEPTH]
 *
 * write fills [OFFSET, OFFSET+SIZE) with a pattern derived from SEED and
 * the absolute byte offset, in BS-sized O_DIRECT writes, then fsyncs.
 * verify reads the range back with O_DIRECT in BS-sized reads and
 * compares.  Either prints one JSON record on stdout and exits 0 when the
 * I/O succeeded (and, for verify, the data matched), 1 otherwise.  The
 * record names the errno of a failed I/O (EILSEQ for a protection error)
 * and where it happened.
 *
 * With DEPTH > 1 the I/Os go through Linux native AIO (io_submit), DEPTH
 * of them in flight at a time, and the record's max_inflight is the
 * largest number of requests the block layer showed in flight for DEV
 * (/sys/block/NAME/inflight, sampled after each submission and
 * completion; -1 when DEV has no such file).
 *
 * The record's usecs is the time from opening DEV to the record, on the
 * monotonic clock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t pattern_word(uint64_t seed, uint64_t offset)
{
	uint64_t x = seed ^ (offset * 0x9e3779b97f4a7c15ULL);

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void fill(uint64_t *buf, size_t len, uint64_t seed, uint64_t offset)
{
	for (size_t i = 0; i < len / 8; i++)
		buf[i] = pattern_word(seed, offset + i * 8);
}

static const char *errno_name(int e)
{
	switch (e) {
	case 0: return "";
	case EIO: return "EIO";
	case EILSEQ: return "EILSEQ";
	case EINVAL: return "EINVAL";
	case ENOSPC: return "ENOSPC";
	case ENXIO: return "ENXIO";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	default: return "other";
	}
}

static unsigned int depth = 1;
static long long max_inflight = -1;
static int inflight_fd = -1;
static struct timespec started;

static unsigned long long usecs_since_start(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - started.tv_sec) * 1000000ULL +
	       (now.tv_nsec - started.tv_nsec) / 1000;
}

static int report(const char *op, const char *dev, unsigned long long off,
		  unsigned long long size, unsigned long long bs,
		  unsigned long long ios, int err, long long bad_at,
		  long long mismatch_at)
{
	int ok = err == 0 && mismatch_at < 0;

	printf("{\"record\": \"io\", \"op\": \"%s\", \"dev\": \"%s\", "
	       "\"offset\": %llu, \"size\": %llu, \"bs\": %llu, \"ios\": %llu, "
	       "\"ok\": %s, \"errno\": %d, \"error\": \"%s\", "
	       "\"failed_at\": %lld, \"mismatch_at\": %lld, "
	       "\"depth\": %u, \"max_inflight\": %lld, \"usecs\": %llu}\n",
	       op, dev, off, size, bs, ios, ok ? "true" : "false", err,
	       errno_name(err), bad_at, mismatch_at, depth, max_inflight,
	       usecs_since_start());
	return ok ? 0 : 1;
}

/* /sys/block/NAME/inflight of DEV, opened once; -1 if there is none. */
static void open_inflight(const char *dev)
{
	const char *name = strrchr(dev, '/');
	char path[256];

	snprintf(path, sizeof(path), "/sys/block/%s/inflight", name ? name + 1 : dev);
	inflight_fd = open(path, O_RDONLY);
	if (inflight_fd >= 0)
		max_inflight = 0;
}

static void sample_inflight(void)
{
	char text[64];
	long long rd, wr;
	ssize_t n;

	if (inflight_fd < 0)
		return;
	n = pread(inflight_fd, text, sizeof(text) - 1, 0);
	if (n <= 0)
		return;
	text[n] = 0;
	if (sscanf(text, "%lld %lld", &rd, &wr) == 2 && rd + wr > max_inflight)
		max_inflight = rd + wr;
}

/* First mismatching byte offset of buf against the pattern, or -1. */
static long long compare(const uint64_t *buf, uint64_t *want, size_t bs,
			 uint64_t seed, uint64_t at)
{
	fill(want, bs, seed, at);
	for (size_t i = 0; i < bs / 8; i++)
		if (buf[i] != want[i])
			return at + i * 8;
	return -1;
}

/*
 * The AIO path: keep up to depth BS-sized I/Os in flight until the range
 * is done or one fails; then drain what is in flight and report the
 * first failure (or the lowest mismatch).
 */
static int run_aio(const char *op, const char *dev, int fd, int write_mode,
		   unsigned long long off, unsigned long long size,
		   unsigned long long bs, uint64_t seed)
{
	aio_context_t ctx = 0;
	struct iocb *cbs = calloc(depth, sizeof(*cbs));
	struct iocb **batch = calloc(depth, sizeof(*batch));
	struct io_event *events = calloc(depth, sizeof(*events));
	uint64_t **bufs = calloc(depth, sizeof(*bufs));
	unsigned int *idle = calloc(depth, sizeof(*idle));
	unsigned long long next = 0, ios = 0;
	unsigned int nidle = depth, busy = 0;
	long long failed_at = -1, mismatch_at = -1;
	uint64_t *want;
	int err = 0;

	if (!cbs || !batch || !events || !bufs || !idle ||
	    posix_memalign((void **)&want, 4096, bs))
		return 2;
	for (unsigned int i = 0; i < depth; i++) {
		if (posix_memalign((void **)&bufs[i], 4096, bs))
			return 2;
		idle[i] = i;
	}
	if (syscall(SYS_io_setup, depth, &ctx))
		return report(op, dev, off, size, bs, 0, errno, -1, -1);

	while (busy || (next < size && !err)) {
		unsigned int n = 0;
		long got;

		while (!err && next < size && nidle) {
			unsigned int slot = idle[--nidle];
			struct iocb *cb = &cbs[slot];

			memset(cb, 0, sizeof(*cb));
			cb->aio_data = slot;
			cb->aio_fildes = fd;
			cb->aio_lio_opcode = write_mode ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
			cb->aio_buf = (uint64_t)(uintptr_t)bufs[slot];
			cb->aio_nbytes = bs;
			cb->aio_offset = off + next;
			if (write_mode)
				fill(bufs[slot], bs, seed, off + next);
			batch[n++] = cb;
			next += bs;
		}
		if (n) {
			long done = syscall(SYS_io_submit, ctx, (long)n, batch);

			if (done < 0) {
				err = errno;
				done = 0;
			}
			if (done < (long)n) {
				/* the rest was never submitted */
				if (!err)
					err = EIO;
				if (failed_at < 0)
					failed_at = batch[done]->aio_offset;
				for (unsigned int i = done; i < n; i++)
					idle[nidle++] = batch[i]->aio_data;
			}
			busy += done;
			sample_inflight();
		}
		if (!busy)
			break;
		got = syscall(SYS_io_getevents, ctx, 1L, (long)depth, events, NULL);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			err = errno;
			break;
		}
		sample_inflight();
		for (long i = 0; i < got; i++) {
			unsigned int slot = events[i].data;
			unsigned long long at = cbs[slot].aio_offset;

			busy--;
			idle[nidle++] = slot;
			if (events[i].res != (long long)bs) {
				if (!err)
					err = events[i].res < 0 ? (int)-events[i].res : EIO;
				if (failed_at < 0 || (long long)at < failed_at)
					failed_at = at;
				continue;
			}
			ios++;
			if (!write_mode) {
				long long bad = compare(bufs[slot], want, bs, seed, at);

				if (bad >= 0 && (mismatch_at < 0 || bad < mismatch_at))
					mismatch_at = bad;
			}
		}
	}
	syscall(SYS_io_destroy, ctx);
	if (!err && write_mode && fsync(fd))
		return report(op, dev, off, size, bs, ios, errno, off + size, -1);
	return report(op, dev, off, size, bs, ios, err, failed_at, mismatch_at);
}

int main(int argc, char **argv)
{
	unsigned long long off, size, bs, seed, done, ios = 0;
	uint64_t *buf, *want;
	int write_mode, fd;

	if (argc < 7 || argc > 8 || (strcmp(argv[1], "write") && strcmp(argv[1], "verify"))) {
		fprintf(stderr, "usage: labio write|verify DEV OFFSET SIZE BS SEED [DEPTH]\n");
		return 2;
	}
	if (argc == 8)
		depth = strtoul(argv[7], NULL, 0);
	if (!depth || depth > 1024) {
		fprintf(stderr, "labio: DEPTH must be 1 to 1024\n");
		return 2;
	}
	write_mode = !strcmp(argv[1], "write");
	off = strtoull(argv[3], NULL, 0);
	size = strtoull(argv[4], NULL, 0);
	bs = strtoull(argv[5], NULL, 0);
	seed = strtoull(argv[6], NULL, 0);
	if (!bs || bs % 512 || size % bs || off % 512) {
		fprintf(stderr, "labio: sizes must be multiples of 512 and of BS\n");
		return 2;
	}
	if (posix_memalign((void **)&buf, 4096, bs) ||
	    posix_memalign((void **)&want, 4096, bs))
		return 2;

	clock_gettime(CLOCK_MONOTONIC, &started);
	fd = open(argv[2], (write_mode ? O_WRONLY : O_RDONLY) | O_DIRECT);
	if (fd < 0)
		return report(argv[1], argv[2], off, size, bs, 0, errno, -1, -1);
	if (depth > 1) {
		open_inflight(argv[2]);
		return run_aio(argv[1], argv[2], fd, write_mode, off, size, bs, seed);
	}

	for (done = 0; done < size; done += bs, ios++) {
		ssize_t n;

		if (write_mode) {
			fill(buf, bs, seed, off + done);
			n = pwrite(fd, buf, bs, off + done);
		} else {
			n = pread(fd, buf, bs, off + done);
		}
		if (n != (ssize_t)bs)
			return report(argv[1], argv[2], off, size, bs, ios,
				      n < 0 ? errno : EIO, off + done, -1);
		if (!write_mode) {
			long long bad = compare(buf, want, bs, seed, off + done);

			if (bad >= 0)
				return report(argv[1], argv[2], off, size, bs,
					      ios + 1, 0, -1, bad);
		}
	}
	if (write_mode && fsync(fd))
		return report(argv[1], argv[2], off, size, bs, ios, errno, off + size, -1);
	close(fd);
	return report(argv[1], argv[2], off, size, bs, ios, 0, -1, -1);
}
