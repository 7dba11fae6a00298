// SPDX-License-Identifier: GPL-2.0
/*
 * labio: direct I/O with a checkable pattern, for the xen-dix lab guests.
 *
 *   labio write  DEV OFFSET SIZE BS SEED
 *   labio verify DEV OFFSET SIZE BS SEED
 *
 * write fills [OFFSET, OFFSET+SIZE) with a pattern derived from SEED and
 * the absolute byte offset, in BS-sized O_DIRECT writes, then fsyncs.
 * verify reads the range back with O_DIRECT in BS-sized reads and
 * compares.  Either prints one JSON record on stdout and exits 0 when the
 * I/O succeeded (and, for verify, the data matched), 1 otherwise.  The
 * record names the errno of a failed I/O (EILSEQ for a protection error)
 * and where it happened.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static int report(const char *op, const char *dev, unsigned long long off,
		  unsigned long long size, unsigned long long bs,
		  unsigned long long ios, int err, long long bad_at,
		  long long mismatch_at)
{
	int ok = err == 0 && mismatch_at < 0;

	printf("{\"record\": \"io\", \"op\": \"%s\", \"dev\": \"%s\", "
	       "\"offset\": %llu, \"size\": %llu, \"bs\": %llu, \"ios\": %llu, "
	       "\"ok\": %s, \"errno\": %d, \"error\": \"%s\", "
	       "\"failed_at\": %lld, \"mismatch_at\": %lld}\n",
	       op, dev, off, size, bs, ios, ok ? "true" : "false", err,
	       errno_name(err), bad_at, mismatch_at);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	unsigned long long off, size, bs, seed, done, ios = 0;
	uint64_t *buf, *want;
	int write_mode, fd;

	if (argc != 7 || (strcmp(argv[1], "write") && strcmp(argv[1], "verify"))) {
		fprintf(stderr, "usage: labio write|verify DEV OFFSET SIZE BS SEED\n");
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

	fd = open(argv[2], (write_mode ? O_WRONLY : O_RDONLY) | O_DIRECT);
	if (fd < 0)
		return report(argv[1], argv[2], off, size, bs, 0, errno, -1, -1);

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
			fill(want, bs, seed, off + done);
			for (size_t i = 0; i < bs / 8; i++)
				if (buf[i] != want[i])
					return report(argv[1], argv[2], off, size, bs,
						      ios + 1, 0, -1, off + done + i * 8);
		}
	}
	if (write_mode && fsync(fd))
		return report(argv[1], argv[2], off, size, bs, ios, errno, off + size, -1);
	close(fd);
	return report(argv[1], argv[2], off, size, bs, ios, 0, -1, -1);
}
