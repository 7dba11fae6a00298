/* SPDX-License-Identifier: GPL-2.0 */
/* xendix top: per vbd counters, read and cleared by Python every interval. */

struct vbd_key_t {
	u32 domid;
	u32 handle;
	u32 dev;
	u32 pad;
};

struct vbd_val_t {
	u64 reqs;		/* completed READ/WRITE requests */
	u64 bytes;		/* their data */
	u64 dix;		/* of them, DIX pairs */
	u64 dix_sectors;	/* the pairs' data, in 512-byte sectors */
	u64 unprotected;
	u64 rejected;
	u64 err_unknown;
	u64 err_guard;
	u64 err_app;
	u64 err_ref;
};

struct disk_key_t {
	char disk[XENDIX_DISK_LEN];
};

BPF_HASH(vbds, struct vbd_key_t, struct vbd_val_t, 4096);
BPF_HASH(verify_fails, struct disk_key_t, u64, 1024);

static __always_inline struct vbd_val_t *vbd_of(u32 domid, u32 handle, u32 dev)
{
	struct vbd_key_t key = {};
	struct vbd_val_t zero = {};

	key.domid = domid;
	key.handle = handle;
	key.dev = dev;
	return vbds.lookup_or_try_init(&key, &zero);
}

TRACEPOINT_PROBE(XENDIX_SYS, XENDIX_SYS_rq_complete)
{
	struct vbd_val_t *v = vbd_of(args->domid, args->handle, args->dev);
	u64 sectors = args->nr_sectors;

	if (!v)
		return 0;
	__sync_fetch_and_add(&v->reqs, 1);
	__sync_fetch_and_add(&v->bytes, sectors << 9);
	if (args->dix) {
		__sync_fetch_and_add(&v->dix, 1);
		__sync_fetch_and_add(&v->dix_sectors, sectors);
	}
	return 0;
}

TRACEPOINT_PROBE(XENDIX_SYS, XENDIX_SYS_dix_error)
{
	struct vbd_val_t *v = vbd_of(args->domid, args->handle, args->dev);
	int kind = args->kind;

	if (!v)
		return 0;
	if (kind == 2)
		__sync_fetch_and_add(&v->err_guard, 1);
	else if (kind == 3)
		__sync_fetch_and_add(&v->err_app, 1);
	else if (kind == 4)
		__sync_fetch_and_add(&v->err_ref, 1);
	else
		__sync_fetch_and_add(&v->err_unknown, 1);
	return 0;
}

TRACEPOINT_PROBE(XENDIX_SYS, XENDIX_SYS_dix_unprotected)
{
	struct vbd_val_t *v = vbd_of(args->domid, args->handle, args->dev);

	if (v)
		__sync_fetch_and_add(&v->unprotected, 1);
	return 0;
}

TRACEPOINT_PROBE(XENDIX_SYS, XENDIX_SYS_XENDIX_REJECTED)
{
	struct vbd_val_t *v = vbd_of(args->domid, args->handle, args->dev);

	if (v)
		__sync_fetch_and_add(&v->rejected, 1);
	return 0;
}

/* --guest: called by the verify probes (verify_*.bpf.c), by disk name. */
static __always_inline void on_verify(struct pt_regs *ctx, struct verify_t *f)
{
	struct disk_key_t key = {};
	u64 zero = 0, *n;

	__builtin_memcpy(key.disk, f->disk, sizeof(key.disk));
	n = verify_fails.lookup_or_try_init(&key, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
}
