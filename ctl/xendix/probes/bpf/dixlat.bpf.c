/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xendix dixlat: rq_submit -> rq_complete latency, log2 usecs, per vbd,
 * DIX and plain apart.
 *
 * A request is keyed by (domid, handle, id) as the spec gives, and its
 * first sector: with several rings per vbd the same id can be in flight
 * on two rings at once, and the sector tells them apart unless both
 * requests start at the same sector.
 */

struct rq_key_t {
	u32 domid;
	u32 handle;
	u64 id;
	u64 sector;
};

/* bcc's print_log2_hist buckets by the key's first field: one u64 for
 * (domid, handle, dix) = domid << 33 | handle << 1 | dix. */
struct hist_key_t {
	u64 bucket;
	u64 slot;
};

BPF_HASH(start, struct rq_key_t, u64, 16384);
BPF_HISTOGRAM(dist, struct hist_key_t, 8192);

TRACEPOINT_PROBE(XENDIX_SYS, XENDIX_SYS_rq_submit)
{
	struct rq_key_t key = {};
	u64 ts = bpf_ktime_get_ns();

	key.domid = args->domid;
	key.handle = args->handle;
	key.id = args->id;
	key.sector = args->sector;
	start.update(&key, &ts);
	return 0;
}

TRACEPOINT_PROBE(XENDIX_SYS, XENDIX_SYS_rq_complete)
{
	struct rq_key_t key = {};
	struct hist_key_t hk = {};
	u64 *tsp, delta;

	key.domid = args->domid;
	key.handle = args->handle;
	key.id = args->id;
	key.sector = args->sector;
	tsp = start.lookup(&key);
	if (!tsp)
		return 0;	/* submitted before we started */
	delta = (bpf_ktime_get_ns() - *tsp) / 1000;
	start.delete(&key);
	hk.bucket = ((u64)(args->domid & 0xffff) << 33) |
		    ((u64)args->handle << 1) | (args->dix ? 1 : 0);
	hk.slot = bpf_log2l(delta);
	dist.atomic_increment(hk);
	return 0;
}
