/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The bench scenario's dom0 probe: per vbd, the requests blkback handled
 * and how many were in flight at most; the grant map and unmap
 * operations of the whole dom0.  Python reads the counters before and
 * after each fio run and clears the maxima.  While Python arms it, a
 * CPU-clock sampler counts dom0's kernel stacks: where a run's time goes.
 */
#include <uapi/linux/ptrace.h>
#include <uapi/linux/bpf_perf_event.h>

struct vbd_key_t {
	u32 domid;
	u32 handle;
};

struct vbd_val_t {
	u64 requests;		/* submitted READ/WRITE requests */
	u64 pairs;		/* of them, DIX pairs */
	u64 sectors;		/* their data, in 512-byte sectors */
	u64 pair_sectors;	/* the pairs' data */
	s64 inflight;
	s64 inflight_pairs;
};

struct max_val_t {
	s64 inflight;
	s64 inflight_pairs;
};

BPF_HASH(vbds, struct vbd_key_t, struct vbd_val_t, 256);
BPF_HASH(maxima, struct vbd_key_t, struct max_val_t, 256);
BPF_ARRAY(grants, u64, 2);	/* [0] pages mapped, [1] pages unmapped */

static __always_inline void note_max(struct vbd_key_t *key, s64 inflight, s64 pairs)
{
	struct max_val_t zero = {};
	struct max_val_t *m = maxima.lookup_or_try_init(key, &zero);

	if (!m)
		return;
	if (inflight > m->inflight)
		m->inflight = inflight;
	if (pairs > m->inflight_pairs)
		m->inflight_pairs = pairs;
}

TRACEPOINT_PROBE(xen_blkback, xen_blkback_rq_submit)
{
	struct vbd_key_t key = {};
	struct vbd_val_t zero = {};
	struct vbd_val_t *v;
	s64 inflight, pairs = 0;

	key.domid = args->domid;
	key.handle = args->handle;
	v = vbds.lookup_or_try_init(&key, &zero);
	if (!v)
		return 0;
	__sync_fetch_and_add(&v->requests, 1);
	__sync_fetch_and_add(&v->sectors, args->nr_sectors);
	inflight = __sync_fetch_and_add(&v->inflight, 1) + 1;
	if (args->dix) {
		__sync_fetch_and_add(&v->pairs, 1);
		__sync_fetch_and_add(&v->pair_sectors, args->nr_sectors);
		pairs = __sync_fetch_and_add(&v->inflight_pairs, 1) + 1;
	}
	note_max(&key, inflight, pairs);
	return 0;
}

TRACEPOINT_PROBE(xen_blkback, xen_blkback_rq_complete)
{
	struct vbd_key_t key = {};
	struct vbd_val_t *v;

	key.domid = args->domid;
	key.handle = args->handle;
	v = vbds.lookup(&key);
	if (!v)
		return 0;
	__sync_fetch_and_add(&v->inflight, -1);
	if (args->dix)
		__sync_fetch_and_add(&v->inflight_pairs, -1);
	return 0;
}

static __always_inline void count_grants(int which, unsigned int count)
{
	u64 *n = grants.lookup(&which);

	if (n)
		__sync_fetch_and_add(n, count);
}

int on_map(struct pt_regs *ctx, void *map_ops, void *kmap_ops, void *pages, unsigned int count)
{
	count_grants(0, count);
	return 0;
}

int on_unmap(struct pt_regs *ctx, void *unmap_ops, void *kunmap_ops, void *pages,
	     unsigned int count)
{
	count_grants(1, count);
	return 0;
}

/* The profile: armed[0] is 0 (off) or the side being sampled (1 DIX, 2 plain). */
struct sample_key_t {
	u32 side;
	s32 kstack;
};

BPF_ARRAY(armed, u32, 1);
BPF_STACK_TRACE(stacks, 8192);
BPF_HASH(samples, struct sample_key_t, u64, 16384);

int on_sample(struct bpf_perf_event_data *ctx)
{
	struct sample_key_t key = {};
	int zero = 0;
	u32 *side = armed.lookup(&zero);

	if (!side || !*side)
		return 0;
	key.side = *side;
	key.kstack = stacks.get_stackid(&ctx->regs, 0);
	samples.increment(key);
	return 0;
}
