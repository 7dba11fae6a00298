/* SPDX-License-Identifier: GPL-2.0 */
/* xendix snoop: one perf event per integrity failure, unprotected I/O,
 * rejected (blkfront: refused) pair and, --guest, failed verify. */

#define WHAT_ERROR 1
#define WHAT_UNPROTECTED 2
#define WHAT_REJECTED 3
#define WHAT_VERIFY 4

#define XENDIX_REASON_LEN 24

struct event_t {
	u64 ts;
	u64 id;
	u64 sector;
	u32 domid;
	u32 handle;
	u32 dev;
	u32 nr_sectors;
	s32 status;
	s32 kind;
	u8 what;
	u8 write;
	u8 dix;
	u8 has_request;		/* sector, nr_sectors, write, status are known */
	char reason[XENDIX_REASON_LEN];
	char disk[XENDIX_DISK_LEN];
};

BPF_PERF_OUTPUT(events);

/* the common request fields of a request event, by name */
#define FILL_REQUEST(ev)				\
	do {						\
		(ev).ts = bpf_ktime_get_ns();		\
		(ev).domid = args->domid;		\
		(ev).handle = args->handle;		\
		(ev).dev = args->dev;			\
		(ev).id = args->id;			\
		(ev).sector = args->sector;		\
		(ev).nr_sectors = args->nr_sectors;	\
		(ev).write = args->write;		\
		(ev).dix = args->dix;			\
		(ev).status = args->status;		\
		(ev).kind = args->kind;			\
		(ev).has_request = 1;			\
	} while (0)

TRACEPOINT_PROBE(XENDIX_SYS, XENDIX_SYS_dix_error)
{
	struct event_t ev = {};

	FILL_REQUEST(ev);
	ev.what = WHAT_ERROR;
	events.perf_submit(args, &ev, sizeof(ev));
	return 0;
}

TRACEPOINT_PROBE(XENDIX_SYS, XENDIX_SYS_dix_unprotected)
{
	struct event_t ev = {};

	FILL_REQUEST(ev);
	ev.what = WHAT_UNPROTECTED;
	events.perf_submit(args, &ev, sizeof(ev));
	return 0;
}

TRACEPOINT_PROBE(XENDIX_SYS, XENDIX_SYS_XENDIX_REJECTED)
{
	struct event_t ev = {};

#ifdef XENDIX_GUEST	/* blkfront's refused pair has every request field */
	FILL_REQUEST(ev);
#else			/* blkback's rejected pair: domid, handle, dev, id, reason */
	ev.ts = bpf_ktime_get_ns();
	ev.domid = args->domid;
	ev.handle = args->handle;
	ev.dev = args->dev;
	ev.id = args->id;
#endif
	ev.what = WHAT_REJECTED;
	TP_DATA_LOC_READ_STR(ev.reason, reason, sizeof(ev.reason));
	events.perf_submit(args, &ev, sizeof(ev));
	return 0;
}

/* --guest: called by the verify probes (verify_*.bpf.c). */
static __always_inline void on_verify(struct pt_regs *ctx, struct verify_t *f)
{
	struct event_t ev = {};

	ev.ts = bpf_ktime_get_ns();
	ev.what = WHAT_VERIFY;
	ev.kind = 5;	/* verify */
	ev.sector = f->sector;
	ev.nr_sectors = f->nr_sectors;
	ev.dev = f->dev;
	__builtin_memcpy(ev.disk, f->disk, sizeof(ev.disk));
	events.perf_submit(ctx, &ev, sizeof(ev));
}
