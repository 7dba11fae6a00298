/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The lifecycle scenario's ring probe: for each blkback ring thread of the
 * vbd under test, where in its ring each request sat, how many pairs were
 * in flight at most, and how many pairs crossed the ring's wrap index (the
 * flagged slot in the ring's last entry, its integrity slot in entry 0).
 *
 * blkback consumes a ring in order, one request at a time, in the ring's
 * own thread, and a ring's indices start at 0 when it connects.  So the
 * thread's events, counted from its start, give each request's slot: a
 * READ or WRITE (xen_blkback_rq_submit) takes 1 slot, a pair 2, and a
 * cache flush (an empty bio with REQ_PREFLUSH that the thread submits to
 * the vbd's device, block_bio_queue) 1.  The guest sends nothing else on
 * this vbd (no discard: the scenario issues none).
 *
 * Python defines VBD_HANDLE (the vbd's devid), VBD_DEV (the backing
 * device's dev_t, as the block tracepoints give it) and RING_SLOTS (the
 * ring's entries: 32 per page).  A ring thread is created at connect, so
 * a reconnect starts a new count under a new thread id.
 */
#include <uapi/linux/ptrace.h>

struct ring_t {
	u64 slots;		/* slots consumed so far */
	u64 requests;		/* READ/WRITE requests, pairs included */
	u64 pairs;
	u64 flushes;
	u64 wraps;		/* pairs that crossed the wrap index */
	u64 domid;
	s64 inflight_pairs;
	s64 max_inflight_pairs;
};

struct pair_key_t {
	u64 id;
	u64 sector;
};

BPF_HASH(rings, u32, struct ring_t, 64);
/* A pair in flight: which ring thread submitted it (or 0 once it completed first). */
BPF_HASH(inflight, struct pair_key_t, u32, 4096);

static __always_inline struct ring_t *this_ring(void)
{
	struct ring_t zero = {};
	u32 tid = bpf_get_current_pid_tgid();

	return rings.lookup_or_try_init(&tid, &zero);
}

TRACEPOINT_PROBE(xen_blkback, xen_blkback_rq_submit)
{
	struct pair_key_t key = {};
	struct ring_t *r;
	u32 tid = bpf_get_current_pid_tgid();
	u32 *done;

	if (args->handle != VBD_HANDLE)
		return 0;
	r = this_ring();
	if (!r)
		return 0;
	r->domid = args->domid;
	r->requests++;
	if (!args->dix) {
		r->slots++;
		return 0;
	}
	if (r->slots % RING_SLOTS == RING_SLOTS - 1)
		r->wraps++;
	r->slots += 2;
	r->pairs++;

	/* The device may complete a pair before its submission is traced. */
	key.id = args->id;
	key.sector = args->sector;
	done = inflight.lookup(&key);
	if (done && *done == 0) {
		inflight.delete(&key);
		return 0;
	}
	inflight.update(&key, &tid);
	r->inflight_pairs++;
	if (r->inflight_pairs > r->max_inflight_pairs)
		r->max_inflight_pairs = r->inflight_pairs;
	return 0;
}

TRACEPOINT_PROBE(xen_blkback, xen_blkback_rq_complete)
{
	struct pair_key_t key = {};
	struct ring_t *r;
	u32 zero = 0;
	u32 *tid;

	if (args->handle != VBD_HANDLE || !args->dix)
		return 0;
	key.id = args->id;
	key.sector = args->sector;
	tid = inflight.lookup(&key);
	if (!tid) {
		inflight.update(&key, &zero);
		return 0;
	}
	r = rings.lookup(tid);
	if (r)
		__sync_fetch_and_add(&r->inflight_pairs, -1);
	inflight.delete(&key);
	return 0;
}

TRACEPOINT_PROBE(block, block_bio_queue)
{
	struct ring_t *r;

	/* Only blkback's ring threads submit to the vbd's device itself. */
	if (args->dev != VBD_DEV || args->nr_sector != 0 || args->rwbs[0] != 'F')
		return 0;
	r = this_ring();
	if (!r)
		return 0;
	r->slots++;
	r->flushes++;
	return 0;
}
