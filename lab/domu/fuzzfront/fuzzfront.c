// SPDX-License-Identifier: GPL-2.0
/*
 * fuzzfront: a hostile xen-blkfront, for the xen-dix lab only.
 *
 * It binds every "vbd" device in place of xen-blkfront and, once the
 * backend is connected, puts a fixed list of cases on the ring: malformed
 * DIX request pairs, then well-formed ones.  What it does on a vbd is named
 * by dom0 in the backend's directory, in "fuzzfront-cases" (written before
 * the domU runs):
 *
 *   all        (or absent) opt in to data integrity (DIX); every case
 *   nodix      do not opt in; flagged operations on a connection without
 *              DIX, each followed by a plain request
 *   multipage  opt in; well-formed and bad pairs with several PI pages
 *   persistent opt in, with persistent grants and persistent PI grants
 *              (feature-persistent and feature-persistent-integrity = 1):
 *              pairs whose PI grants blkback keeps mapped, hostile and good
 *
 * The vbds take turns, one after the other.  For each case it logs one line:
 *
 *   fuzzfront: case=NAME slots=N responses=N status=S1,S2 ops=O1,O2 ids=I1,I2 leaked=L vbd=D
 *
 * where leaked counts the grants of the case whose foreign access could not
 * be ended once every response was in (the backend still maps them) and D
 * is the vbd's device id.  The flood case logs counts instead of lists.  The
 * last line of a vbd is "fuzzfront: done cases=N leaked=L vbd=D".
 */

#include <linux/module.h>
#include <linux/crc-t10dif.h>
#include <linux/delay.h>
#include <linux/interrupt.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/t10-pi.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <xen/xen.h>
#include <xen/xenbus.h>
#include <xen/grant_table.h>
#include <xen/events.h>
#include <xen/page.h>
#include <xen/interface/io/blkif.h>
#include <xen/interface/io/protocols.h>

#define FUZZ_TIMEOUT		(10 * HZ)
#define FUZZ_SETTLE_MS		100
#define FUZZ_MAX_RSP		4
#define FUZZ_SECT_PER_PAGE	(XEN_PAGE_SIZE >> 9)
#define FUZZ_BAD_GREF		0xfffffff0U
/* 1 MiB: the most blkback advertises, and 4 pages of PI at 512 bytes. */
#define FUZZ_INDIRECT_PAGES	256
#define FUZZ_MAX_GRANTS		(FUZZ_INDIRECT_PAGES + 32)
#define FUZZ_HALF_MIB		128
/*
 * The persistent mode's pages, granted writable for the whole connection as
 * xen-blkfront grants its pages with persistent grants: data pages, and PI
 * pages (the PI of a 4 KiB pair fits in one).
 */
#define FUZZ_POOL_DATA		4
#define FUZZ_POOL_PI		2
#define FUZZ_POOL		(FUZZ_POOL_DATA + FUZZ_POOL_PI)

enum fuzz_mode {
	FUZZ_ALL,
	FUZZ_NODIX,
	FUZZ_MULTIPAGE,
	FUZZ_PERSISTENT,
};

static const char * const fuzz_modes[] = {
	[FUZZ_ALL] = "all",
	[FUZZ_NODIX] = "nodix",
	[FUZZ_MULTIPAGE] = "multipage",
	[FUZZ_PERSISTENT] = "persistent",
};

/* One vbd at a time: the cases of two vbds never interleave. */
static DEFINE_MUTEX(fuzz_lock);

struct fuzz_info {
	struct xenbus_device *dev;
	const char *vbd;
	enum fuzz_mode mode;
	bool opted_in;
	/* Persistent grants, and persistent PI grants, asked of the backend. */
	bool persistent;
	struct blkif_front_ring ring;
	grant_ref_t ring_ref;
	evtchn_port_t evtchn;
	int irq;
	wait_queue_head_t wq;
	struct work_struct work;
	bool started;
	unsigned int interval;
	unsigned int tuple_size;
	unsigned int max_indirect;
	unsigned long long sectors;
	/* The grants of the current case. */
	unsigned int nr_grants;
	grant_ref_t grefs[FUZZ_MAX_GRANTS];
	struct page *pages[FUZZ_MAX_GRANTS];
	/* The responses to the current case. */
	unsigned int nr_rsp;
	struct blkif_response rsp[FUZZ_MAX_RSP];
	/*
	 * The persistent mode's pages: data pages first, then PI pages.  A
	 * NULL page is one whose grant has ended.
	 */
	unsigned int nr_pool;
	grant_ref_t pool_gref[FUZZ_POOL];
	struct page *pool_page[FUZZ_POOL];
};

/*
 * The slots of one case, and what a well-formed pair is checked against.
 * It is allocated zeroed, so every reserved field of a slot (_pad1 and
 * _pad2 of the integrity slot, its gref[] past nr_segments, the pads of the
 * data slot) is 0 unless a case sets it.
 */
struct fuzz_slots {
	/* One pair, or two pairs pushed together. */
	struct blkif_request slot[FUZZ_MAX_RSP];
	unsigned int nr;
	u64 id;
	/* The case's fuzz_case.arg. */
	unsigned int arg;
	u8 op;
	u64 sector;
	unsigned int npages;
	/* Sectors left out at the start of the first data page. */
	unsigned int skip;
	struct page *data[FUZZ_INDIRECT_PAGES];
	struct page *pi[BLKIF_MAX_INTEGRITY_SEGMENTS];
	bool compare;
	/* The PI page is the first data page: the data follows the PI. */
	bool pi_in_data;
	/* The data page of a second pair that reads the same sectors. */
	struct page *data_b;
};

struct fuzz_case {
	const char *name;
	/* 0: push the slots; > 0: skip the case; < 0: error. */
	int (*build)(struct fuzz_info *info, struct fuzz_slots *s);
	/* A case that drives the ring itself; returns the grants leaked. */
	unsigned int (*run)(struct fuzz_info *info, const struct fuzz_case *c,
			    u64 id);
	/* For build, in fuzz_slots.arg: e.g. the round of a repeated case. */
	unsigned int arg;
};

static irqreturn_t fuzz_interrupt(int irq, void *dev_id)
{
	struct fuzz_info *info = dev_id;

	wake_up(&info->wq);
	return IRQ_HANDLED;
}

/* Grant a new zeroed page to the backend; NULL when out of grants. */
static struct page *fuzz_grant(struct fuzz_info *info, bool readonly,
			       grant_ref_t *ref)
{
	struct page *page;
	int gref;

	if (info->nr_grants >= FUZZ_MAX_GRANTS)
		return NULL;
	page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!page)
		return NULL;
	gref = gnttab_grant_foreign_access(info->dev->otherend_id,
					   xen_page_to_gfn(page), readonly);
	if (gref < 0) {
		__free_page(page);
		return NULL;
	}
	info->grefs[info->nr_grants] = gref;
	info->pages[info->nr_grants++] = page;
	*ref = gref;
	return page;
}

/* A grant reference that refers to no granted page any more. */
static int fuzz_revoked_gref(struct fuzz_info *info, grant_ref_t *ref)
{
	struct page *page = alloc_page(GFP_KERNEL);
	int gref;

	if (!page)
		return -ENOMEM;
	gref = gnttab_grant_foreign_access(info->dev->otherend_id,
					   xen_page_to_gfn(page), 0);
	if (gref < 0) {
		__free_page(page);
		return gref;
	}
	if (!gnttab_try_end_foreign_access(gref)) {
		gnttab_end_foreign_access(gref, page);
		return -EBUSY;
	}
	__free_page(page);
	*ref = gref;
	return 0;
}

/* End foreign access to every grant of the case; returns how many leaked. */
static unsigned int fuzz_ungrant_all(struct fuzz_info *info)
{
	unsigned int i, leaked = 0;

	for (i = 0; i < info->nr_grants; i++) {
		if (gnttab_try_end_foreign_access(info->grefs[i])) {
			__free_page(info->pages[i]);
		} else {
			leaked++;
			/* Freed by the grant table once the backend lets go. */
			gnttab_end_foreign_access(info->grefs[i], info->pages[i]);
		}
	}
	info->nr_grants = 0;
	return leaked;
}

static u8 fuzz_pattern(u64 sector, unsigned int byte)
{
	return (u8)(sector * 31 + byte * 7 + 1);
}

static unsigned int fuzz_data_bytes(struct fuzz_slots *s)
{
	return s->npages * XEN_PAGE_SIZE - (s->skip << 9);
}

/* Sector @n of the request's data: 512 bytes within one page. */
static u8 *fuzz_sector_at(struct fuzz_slots *s, unsigned int n)
{
	unsigned int off = (s->skip + n) << 9;

	return page_address(s->data[off / XEN_PAGE_SIZE]) + off % XEN_PAGE_SIZE;
}

static void fuzz_fill_data(struct fuzz_slots *s)
{
	unsigned int n, b;

	for (n = 0; n < fuzz_data_bytes(s) >> 9; n++) {
		u8 *buf = fuzz_sector_at(s, n);

		for (b = 0; b < 512; b++)
			buf[b] = fuzz_pattern(s->sector + n, b);
	}
}

/*
 * The T10 type 1 PI (CRC guard) of tuple @t of the pattern at the pair's
 * sectors: of its data when it was written, and what a read must return.
 * Computed from the pattern, not from the pages, which a read may have
 * filled with anything (even its own PI, when the PI page is a data page).
 */
static void fuzz_tuple(struct fuzz_info *info, struct fuzz_slots *s,
		       unsigned int t, struct t10_pi_tuple *pi)
{
	unsigned int n, off, b, per = info->interval >> 9;
	u8 buf[64];
	u16 crc = 0;

	for (n = t * per; n < (t + 1) * per; n++) {
		for (off = 0; off < 512; off += sizeof(buf)) {
			for (b = 0; b < sizeof(buf); b++)
				buf[b] = fuzz_pattern(s->sector + n, off + b);
			crc = crc_t10dif_update(crc, buf, sizeof(buf));
		}
	}
	pi->guard_tag = cpu_to_be16(crc);
	pi->app_tag = 0;
	pi->ref_tag = cpu_to_be32((u32)((s->sector << 9) / info->interval) + t);
}

static struct t10_pi_tuple *fuzz_pi_at(struct fuzz_slots *s, unsigned int t)
{
	unsigned int off = t * sizeof(struct t10_pi_tuple);

	return page_address(s->pi[off / XEN_PAGE_SIZE]) + off % XEN_PAGE_SIZE;
}

static unsigned int fuzz_pi_bytes(struct fuzz_info *info, unsigned int bytes)
{
	return bytes / info->interval * info->tuple_size;
}

/*
 * A data request in @req: @npages granted pages at @sector, the first from
 * its sector @skip on, indirect beyond BLKIF_MAX_SEGMENTS_PER_REQUEST
 * pages.  The pages go to @pages when it is not NULL.  A write grants them
 * read-only, a read writable.
 */
static int fuzz_data(struct fuzz_info *info, struct blkif_request *req,
		     u8 op, u64 id, u64 sector, unsigned int npages,
		     unsigned int skip, struct page **pages)
{
	bool ro = op == BLKIF_OP_WRITE;
	struct blkif_request_segment *ind = NULL;
	grant_ref_t ref;
	unsigned int i;

	if (npages > FUZZ_INDIRECT_PAGES || skip >= FUZZ_SECT_PER_PAGE)
		return -EINVAL;
	req->operation = op;
	if (npages > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
		struct page *page = fuzz_grant(info, true, &ref);

		if (!page)
			return -ENOMEM;
		ind = page_address(page);
		req->operation = BLKIF_OP_INDIRECT;
		req->u.indirect.indirect_op = op;
		req->u.indirect.nr_segments = npages;
		req->u.indirect.id = id;
		req->u.indirect.sector_number = sector;
		req->u.indirect.handle = 0;
		req->u.indirect.indirect_grefs[0] = ref;
	} else {
		req->u.rw.nr_segments = npages;
		req->u.rw.handle = 0;
		req->u.rw.id = id;
		req->u.rw.sector_number = sector;
	}
	for (i = 0; i < npages; i++) {
		struct blkif_request_segment seg;
		struct page *page = fuzz_grant(info, ro, &ref);

		if (!page)
			return -ENOMEM;
		if (pages)
			pages[i] = page;
		seg.gref = ref;
		seg.first_sect = i ? 0 : skip;
		seg.last_sect = FUZZ_SECT_PER_PAGE - 1;
		if (ind)
			ind[i] = seg;
		else
			req->u.rw.seg[i] = seg;
	}
	return 0;
}

/*
 * A well-formed pair: @npages pages of data at @sector, the first from its
 * sector @skip on, with its PI.  A write carries the data pattern and its
 * correct PI, granted read-only; a read grants zeroed pages writable.
 */
static int fuzz_pair_at(struct fuzz_info *info, struct fuzz_slots *s, u8 op,
			u64 sector, unsigned int npages, unsigned int skip)
{
	struct blkif_request_integrity *ireq = &s->slot[1].u.integrity;
	unsigned int i, pi_bytes, pi_pages;
	grant_ref_t ref;
	int err;

	s->op = op;
	s->sector = sector;
	s->npages = npages;
	s->skip = skip;
	err = fuzz_data(info, &s->slot[0], op, s->id, sector, npages, skip,
			s->data);
	if (err)
		return err;
	s->slot[0].operation |= BLKIF_OP_DIX_FLAG;

	pi_bytes = fuzz_pi_bytes(info, fuzz_data_bytes(s));
	pi_pages = DIV_ROUND_UP(pi_bytes, XEN_PAGE_SIZE);
	if (pi_pages > BLKIF_MAX_INTEGRITY_SEGMENTS)
		return -EINVAL;
	s->slot[1].operation = BLKIF_OP_INTEGRITY;
	ireq->nr_segments = pi_pages;
	ireq->pi_bytes = pi_bytes;
	ireq->id = s->id;
	for (i = 0; i < pi_pages; i++) {
		s->pi[i] = fuzz_grant(info, op == BLKIF_OP_WRITE, &ref);
		if (!s->pi[i])
			return -ENOMEM;
		ireq->gref[i] = ref;
	}
	if (op == BLKIF_OP_WRITE) {
		fuzz_fill_data(s);
		for (i = 0; i < pi_bytes / info->tuple_size; i++)
			fuzz_tuple(info, s, i, fuzz_pi_at(s, i));
	}
	s->nr = 2;
	return 0;
}

static int fuzz_pair(struct fuzz_info *info, struct fuzz_slots *s, u8 op,
		     u64 sector, unsigned int npages)
{
	return fuzz_pair_at(info, s, op, sector, npages, 0);
}

/* A 4 KiB flagged read pair, to be broken by the case. */
static int fuzz_read4k(struct fuzz_info *info, struct fuzz_slots *s)
{
	return fuzz_pair(info, s, BLKIF_OP_READ, 0, 1);
}

static int case_flag_last(struct fuzz_info *info, struct fuzz_slots *s)
{
	int err = fuzz_read4k(info, s);

	s->nr = 1;	/* the integrity slot is never produced */
	return err;
}

static int case_second_wrong_op(struct fuzz_info *info, struct fuzz_slots *s)
{
	int err = fuzz_read4k(info, s);

	/* The second slot is a plain read with the pair's id. */
	s->slot[1] = s->slot[0];
	s->slot[1].operation = BLKIF_OP_READ;
	return err;
}

static int case_second_flagged(struct fuzz_info *info, struct fuzz_slots *s)
{
	int err = fuzz_read4k(info, s);

	/* Two flagged reads in a row, no integrity slot. */
	s->slot[1] = s->slot[0];
	return err;
}

static int case_wrong_id(struct fuzz_info *info, struct fuzz_slots *s)
{
	int err = fuzz_read4k(info, s);

	s->slot[1].u.integrity.id = s->id + 100;
	return err;
}

static int case_nr_segments_0(struct fuzz_info *info, struct fuzz_slots *s)
{
	int err = fuzz_read4k(info, s);

	s->slot[1].u.integrity.nr_segments = 0;
	return err;
}

static int case_nr_segments_17(struct fuzz_info *info, struct fuzz_slots *s)
{
	int err = fuzz_read4k(info, s);

	s->slot[1].u.integrity.nr_segments = BLKIF_MAX_INTEGRITY_SEGMENTS + 1;
	return err;
}

static int case_pi_bytes_short(struct fuzz_info *info, struct fuzz_slots *s)
{
	int err = fuzz_read4k(info, s);

	s->slot[1].u.integrity.pi_bytes -= info->tuple_size;
	return err;
}

static int case_pi_bytes_huge(struct fuzz_info *info, struct fuzz_slots *s)
{
	struct blkif_request_integrity *ireq = &s->slot[1].u.integrity;
	int err = fuzz_read4k(info, s);
	unsigned int i;

	ireq->pi_bytes = 0xffffffffU;
	ireq->nr_segments = BLKIF_MAX_INTEGRITY_SEGMENTS;
	for (i = 1; i < BLKIF_MAX_INTEGRITY_SEGMENTS; i++)
		ireq->gref[i] = ireq->gref[0];
	return err;
}

static int case_nr_segments_mismatch(struct fuzz_info *info,
				     struct fuzz_slots *s)
{
	int err = fuzz_read4k(info, s);
	grant_ref_t ref = 0;

	/* Two granted pages for PI that fits in one. */
	if (!err && !fuzz_grant(info, false, &ref))
		err = -ENOMEM;
	s->slot[1].u.integrity.gref[1] = ref;
	s->slot[1].u.integrity.nr_segments = 2;
	return err;
}

static int case_gref_out_of_range(struct fuzz_info *info, struct fuzz_slots *s)
{
	int err = fuzz_read4k(info, s);

	s->slot[1].u.integrity.gref[0] = FUZZ_BAD_GREF;
	return err;
}

static int case_gref_revoked(struct fuzz_info *info, struct fuzz_slots *s)
{
	int err = fuzz_read4k(info, s);

	return err ?: fuzz_revoked_gref(info, &s->slot[1].u.integrity.gref[0]);
}

static int case_pi_read_only_on_read(struct fuzz_info *info,
				     struct fuzz_slots *s)
{
	int err = fuzz_read4k(info, s);
	grant_ref_t ref = 0;

	/* The backend must write a read's PI: grant it read-only. */
	if (!err && !fuzz_grant(info, true, &ref))
		err = -ENOMEM;
	s->slot[1].u.integrity.gref[0] = ref;
	return err;
}

static int case_data_gref_revoked(struct fuzz_info *info, struct fuzz_slots *s)
{
	int err = fuzz_read4k(info, s);

	return err ?: fuzz_revoked_gref(info, &s->slot[0].u.rw.seg[0].gref);
}

static int case_second_pi_page_bad(struct fuzz_info *info,
				   struct fuzz_slots *s)
{
	int err;

	/* An indirect read with two PI pages: the first maps, the second not. */
	if (info->max_indirect < FUZZ_HALF_MIB ||
	    fuzz_pi_bytes(info, FUZZ_HALF_MIB * XEN_PAGE_SIZE) <= XEN_PAGE_SIZE)
		return 1;
	err = fuzz_pair(info, s, BLKIF_OP_READ, 0, FUZZ_HALF_MIB);
	s->slot[1].u.integrity.gref[1] = FUZZ_BAD_GREF;
	return err;
}

static int case_data_nr_segments_0(struct fuzz_info *info,
				   struct fuzz_slots *s)
{
	int err = fuzz_read4k(info, s);

	s->slot[0].u.rw.nr_segments = 0;
	return err;
}

static int case_flagged_flush(struct fuzz_info *info, struct fuzz_slots *s)
{
	int err = fuzz_read4k(info, s);

	s->slot[0].operation = BLKIF_OP_FLUSH_DISKCACHE | BLKIF_OP_DIX_FLAG;
	s->slot[0].u.rw.nr_segments = 0;
	return err;
}

static int case_flagged_discard(struct fuzz_info *info, struct fuzz_slots *s)
{
	struct blkif_request *req = &s->slot[0];
	int err = fuzz_read4k(info, s);

	memset(&req->u, 0, sizeof(req->u));
	req->operation = BLKIF_OP_DISCARD | BLKIF_OP_DIX_FLAG;
	req->u.discard.id = s->id;
	req->u.discard.sector_number = 0;
	req->u.discard.nr_sectors = FUZZ_SECT_PER_PAGE;
	return err;
}

static int case_flagged_integrity(struct fuzz_info *info, struct fuzz_slots *s)
{
	int err = fuzz_read4k(info, s);

	s->slot[0] = s->slot[1];
	s->slot[0].operation = BLKIF_OP_INTEGRITY | BLKIF_OP_DIX_FLAG;
	return err;
}

static int case_lone_integrity(struct fuzz_info *info, struct fuzz_slots *s)
{
	int err = fuzz_read4k(info, s);

	s->slot[0] = s->slot[1];
	s->nr = 1;
	return err;
}

static int case_unaligned(struct fuzz_info *info, struct fuzz_slots *s)
{
	int err;

	/* Only a protection interval larger than a sector can be missed. */
	if (info->interval <= 512)
		return 1;
	err = fuzz_read4k(info, s);
	s->slot[0].u.rw.sector_number = 1;
	return err;
}

static int case_pad1_nonzero(struct fuzz_info *info, struct fuzz_slots *s)
{
	int err = fuzz_read4k(info, s);

	/* A pair that works but for its reserved _pad1. */
	s->slot[1].u.integrity._pad1 = 1;
	return err;
}

/* A granted page named in reserved gref[@i] of an otherwise good pair. */
static int fuzz_reserved_gref(struct fuzz_info *info, struct fuzz_slots *s,
			      unsigned int i)
{
	int err = fuzz_read4k(info, s);
	grant_ref_t ref = 0;

	if (!err && !fuzz_grant(info, false, &ref))
		err = -ENOMEM;
	s->slot[1].u.integrity.gref[i] = ref;
	return err;
}

static int case_gref_past_nr_segments(struct fuzz_info *info,
				      struct fuzz_slots *s)
{
	return fuzz_reserved_gref(info, s, 1);
}

static int case_gref_last_nonzero(struct fuzz_info *info,
				  struct fuzz_slots *s)
{
	return fuzz_reserved_gref(info, s, BLKIF_MAX_INTEGRITY_SEGMENTS - 1);
}

/* Well-formed pairs, after all the bad ones. */
#define FUZZ_WRITE_SECTOR	2048
#define FUZZ_BAD_WRITE_SECTOR	(FUZZ_WRITE_SECTOR + FUZZ_SECT_PER_PAGE)

static int case_read_ok(struct fuzz_info *info, struct fuzz_slots *s)
{
	return fuzz_pair(info, s, BLKIF_OP_READ, 4096, 1);
}

static int case_write_ok(struct fuzz_info *info, struct fuzz_slots *s)
{
	return fuzz_pair(info, s, BLKIF_OP_WRITE, FUZZ_WRITE_SECTOR, 1);
}

static int case_write_bad_guard(struct fuzz_info *info, struct fuzz_slots *s)
{
	int err = fuzz_pair(info, s, BLKIF_OP_WRITE, FUZZ_BAD_WRITE_SECTOR, 1);

	if (!err)
		fuzz_pi_at(s, 0)->guard_tag ^= cpu_to_be16(0xffff);
	return err;
}

static int case_read_back(struct fuzz_info *info, struct fuzz_slots *s)
{
	int err = fuzz_pair(info, s, BLKIF_OP_READ, FUZZ_WRITE_SECTOR, 1);

	s->compare = true;
	return err;
}

/*
 * Pairs with several pages of PI: 1 MiB of data in 256 indirect segments
 * carries 16 KiB of PI at 512-byte intervals, 4 pages.  blkback must hand
 * each bio the PI of its own data, whatever the backing queue's integrity
 * segment limits.
 */
#define FUZZ_MP_SECTOR		16384
#define FUZZ_MP_SKIP_SECTOR	(FUZZ_MP_SECTOR + 4096)
#define FUZZ_MP_BAD_SECTOR	(FUZZ_MP_SECTOR + 8192)
#define FUZZ_MP_SKIP		3

static int fuzz_mp_pair(struct fuzz_info *info, struct fuzz_slots *s, u8 op,
			u64 sector, unsigned int skip)
{
	/* Only at 512-byte intervals does 1 MiB take more than 1 PI page. */
	if (info->max_indirect < FUZZ_INDIRECT_PAGES || info->interval != 512)
		return 1;
	return fuzz_pair_at(info, s, op, sector, FUZZ_INDIRECT_PAGES, skip);
}

static int case_mp_write_ok(struct fuzz_info *info, struct fuzz_slots *s)
{
	return fuzz_mp_pair(info, s, BLKIF_OP_WRITE, FUZZ_MP_SECTOR, 0);
}

static int case_mp_read_back(struct fuzz_info *info, struct fuzz_slots *s)
{
	s->compare = true;
	return fuzz_mp_pair(info, s, BLKIF_OP_READ, FUZZ_MP_SECTOR, 0);
}

/*
 * The data starts 3 sectors into its first page: every PI page boundary
 * falls inside a data page, where blkback splits a bio inside a segment.
 */
static int case_mp_skip_write_ok(struct fuzz_info *info, struct fuzz_slots *s)
{
	return fuzz_mp_pair(info, s, BLKIF_OP_WRITE, FUZZ_MP_SKIP_SECTOR,
			    FUZZ_MP_SKIP);
}

static int case_mp_skip_read_back(struct fuzz_info *info, struct fuzz_slots *s)
{
	s->compare = true;
	return fuzz_mp_pair(info, s, BLKIF_OP_READ, FUZZ_MP_SKIP_SECTOR,
			    FUZZ_MP_SKIP);
}

/* Good PI in the first pages, a wrong guard in the third page. */
static int case_mp_bad_guard_page3(struct fuzz_info *info,
				   struct fuzz_slots *s)
{
	unsigned int t = 2 * XEN_PAGE_SIZE / info->tuple_size + 5;
	int err = fuzz_mp_pair(info, s, BLKIF_OP_WRITE, FUZZ_MP_BAD_SECTOR, 0);

	if (!err)
		fuzz_pi_at(s, t)->guard_tag ^= cpu_to_be16(0xffff);
	return err;
}

/*
 * On a vbd where fuzzfront did not opt in to DIX, a flagged operation is
 * unknown: it is answered alone, and the plain request in the next slot
 * gets its own answer.
 */
#define FUZZ_NODIX_SECTOR	65536
#define FUZZ_NODIX_ID		100

static int fuzz_nodix(struct fuzz_info *info, struct fuzz_slots *s, u8 op,
		      bool indirect)
{
	unsigned int npages = indirect ? BLKIF_MAX_SEGMENTS_PER_REQUEST + 1 : 1;
	int err;

	err = fuzz_data(info, &s->slot[0], op, s->id, FUZZ_NODIX_SECTOR, npages,
			0, NULL);
	if (!err)
		err = fuzz_data(info, &s->slot[1], op, s->id + FUZZ_NODIX_ID,
				FUZZ_NODIX_SECTOR, 1, 0, NULL);
	s->slot[0].operation |= BLKIF_OP_DIX_FLAG;
	s->nr = 2;
	return err;
}

static int case_nodix_flagged_read(struct fuzz_info *info, struct fuzz_slots *s)
{
	return fuzz_nodix(info, s, BLKIF_OP_READ, false);
}

static int case_nodix_flagged_write(struct fuzz_info *info,
				    struct fuzz_slots *s)
{
	return fuzz_nodix(info, s, BLKIF_OP_WRITE, false);
}

static int case_nodix_flagged_indirect(struct fuzz_info *info,
				       struct fuzz_slots *s)
{
	return fuzz_nodix(info, s, BLKIF_OP_READ, true);
}

/* A whole pair: the flagged read alone, then the integrity slot alone. */
static int case_nodix_pair(struct fuzz_info *info, struct fuzz_slots *s)
{
	if (!info->interval || !info->tuple_size)
		return 1;
	return fuzz_pair(info, s, BLKIF_OP_READ, FUZZ_NODIX_SECTOR, 1);
}

static int case_nodix_read_ok(struct fuzz_info *info, struct fuzz_slots *s)
{
	s->nr = 1;
	return fuzz_data(info, &s->slot[0], BLKIF_OP_READ, s->id,
			 FUZZ_NODIX_SECTOR, 1, 0, NULL);
}

/*
 * With persistent grants and persistent PI grants (the persistent mode),
 * blkback may keep every grant of a pair mapped after it answered it, PI
 * grants too, and maps them writable.  The cases use the pages that
 * fuzzfront granted for the connection (the pool), but for a page a case
 * grants of its own.  They go to a part of the disk that no other vbd's
 * cases use, at 48 MiB.
 */
#define FUZZ_P_SECTOR		98304
#define FUZZ_P_RO_SECTOR	(FUZZ_P_SECTOR + FUZZ_SECT_PER_PAGE)
#define FUZZ_P_REVOKED_SECTOR	(FUZZ_P_SECTOR + 2 * FUZZ_SECT_PER_PAGE)
#define FUZZ_P_REUSE_SECTOR	(FUZZ_P_SECTOR + 8 * FUZZ_SECT_PER_PAGE)
#define FUZZ_P_SECOND_ID	100

/* Pool data page @i, and pool PI page @i. */
#define FUZZ_P_DATA(i)		(i)
#define FUZZ_P_PI(i)		(FUZZ_POOL_DATA + (i))

/* Slots @slot[0] and @slot[1]: a 4 KiB pair at @sector, one page each. */
static void fuzz_p_slots(struct fuzz_info *info, struct blkif_request *slot,
			 u8 op, u64 id, u64 sector, grant_ref_t data_ref,
			 grant_ref_t pi_ref)
{
	struct blkif_request_integrity *ireq = &slot[1].u.integrity;

	slot[0].operation = op | BLKIF_OP_DIX_FLAG;
	slot[0].u.rw.nr_segments = 1;
	slot[0].u.rw.handle = 0;
	slot[0].u.rw.id = id;
	slot[0].u.rw.sector_number = sector;
	slot[0].u.rw.seg[0].gref = data_ref;
	slot[0].u.rw.seg[0].first_sect = 0;
	slot[0].u.rw.seg[0].last_sect = FUZZ_SECT_PER_PAGE - 1;
	slot[1].operation = BLKIF_OP_INTEGRITY;
	ireq->nr_segments = 1;
	ireq->id = id;
	ireq->pi_bytes = fuzz_pi_bytes(info, XEN_PAGE_SIZE);
	ireq->gref[0] = pi_ref;
}

/*
 * A 4 KiB pair at @sector in pool data page @data, its PI in @pi, granted
 * as @pi_ref.  A write carries the pattern and its PI; a read clears both
 * pages first (the pool's pages hold what earlier cases left), so that
 * what it compares was read.
 */
static int fuzz_p_pair(struct fuzz_info *info, struct fuzz_slots *s, u8 op,
		       u64 sector, unsigned int data, struct page *pi,
		       grant_ref_t pi_ref)
{
	unsigned int t;

	s->op = op;
	s->sector = sector;
	s->npages = 1;
	s->data[0] = info->pool_page[FUZZ_P_DATA(data)];
	s->pi[0] = pi;
	fuzz_p_slots(info, s->slot, op, s->id, sector,
		     info->pool_gref[FUZZ_P_DATA(data)], pi_ref);
	s->nr = 2;
	if (op == BLKIF_OP_WRITE) {
		fuzz_fill_data(s);
		for (t = 0; t < fuzz_pi_bytes(info, XEN_PAGE_SIZE) / info->tuple_size; t++)
			fuzz_tuple(info, s, t, fuzz_pi_at(s, t));
	} else {
		memset(page_address(s->data[0]), 0, XEN_PAGE_SIZE);
		memset(page_address(pi), 0, XEN_PAGE_SIZE);
		s->compare = true;
	}
	return 0;
}

/* The same with pool PI page @pi. */
static int fuzz_p_pool_pair(struct fuzz_info *info, struct fuzz_slots *s,
			    u8 op, u64 sector, unsigned int data,
			    unsigned int pi)
{
	return fuzz_p_pair(info, s, op, sector, data,
			   info->pool_page[FUZZ_P_PI(pi)],
			   info->pool_gref[FUZZ_P_PI(pi)]);
}

/* The pattern and its PI at FUZZ_P_SECTOR, which the reads below read. */
static int case_p_write_ok(struct fuzz_info *info, struct fuzz_slots *s)
{
	return fuzz_p_pool_pair(info, s, BLKIF_OP_WRITE, FUZZ_P_SECTOR, 0, 0);
}

/*
 * A read whose PI grant is its data grant.  blkback maps the data grant
 * first (into its persistent grants), finds it in use when it maps the PI,
 * and maps it once more, for the pair only.  The read's PI is copied in
 * after its data: the page holds the PI, then the rest of the data.
 */
static int case_p_pi_is_data(struct fuzz_info *info, struct fuzz_slots *s)
{
	unsigned int data = 1;
	int err = fuzz_p_pair(info, s, BLKIF_OP_READ, FUZZ_P_SECTOR, data,
			      info->pool_page[FUZZ_P_DATA(data)],
			      info->pool_gref[FUZZ_P_DATA(data)]);

	s->pi_in_data = true;
	return err;
}

/*
 * Two reads of the same sectors pushed together, each into its own data
 * page, both with the same PI grant: the second is dispatched while the
 * first is in flight (unless the disk answered the first already), when
 * blkback finds the PI grant in use and maps it once more.
 */
static int case_p_pi_shared(struct fuzz_info *info, struct fuzz_slots *s)
{
	int err = fuzz_p_pool_pair(info, s, BLKIF_OP_READ, FUZZ_P_SECTOR, 2, 1);

	s->data_b = info->pool_page[FUZZ_P_DATA(3)];
	memset(page_address(s->data_b), 0, XEN_PAGE_SIZE);
	fuzz_p_slots(info, &s->slot[2], BLKIF_OP_READ, s->id + FUZZ_P_SECOND_ID,
		     FUZZ_P_SECTOR, info->pool_gref[FUZZ_P_DATA(3)],
		     info->pool_gref[FUZZ_P_PI(1)]);
	s->nr = 4;
	return err;
}

/*
 * A write whose PI page is granted read-only, as a frontend that grants PI
 * for each pair grants a write's: blkback maps persistent PI grants
 * writable, so the grant does not map and the pair is refused.
 */
static int case_p_pi_read_only(struct fuzz_info *info, struct fuzz_slots *s)
{
	grant_ref_t ref;
	struct page *pi = fuzz_grant(info, true, &ref);

	if (!pi)
		return -ENOMEM;
	return fuzz_p_pair(info, s, BLKIF_OP_WRITE, FUZZ_P_RO_SECTOR, 0, pi, ref);
}

/*
 * Good pairs that reuse the pool's PI pages, round after round: a write at
 * the round's own sector, then its read-back into another data page, both
 * with PI page (round % FUZZ_POOL_PI).  blkback maps each PI grant once and
 * finds it among its persistent grants afterwards.
 */
static u64 fuzz_p_round_sector(unsigned int round)
{
	return FUZZ_P_REUSE_SECTOR + round * FUZZ_SECT_PER_PAGE;
}

static int case_p_reuse_write(struct fuzz_info *info, struct fuzz_slots *s)
{
	return fuzz_p_pool_pair(info, s, BLKIF_OP_WRITE,
				fuzz_p_round_sector(s->arg), 0,
				s->arg % FUZZ_POOL_PI);
}

static int case_p_reuse_read(struct fuzz_info *info, struct fuzz_slots *s)
{
	return fuzz_p_pool_pair(info, s, BLKIF_OP_READ,
				fuzz_p_round_sector(s->arg), 1,
				s->arg % FUZZ_POOL_PI);
}

static unsigned int fuzz_flood(struct fuzz_info *info,
			       const struct fuzz_case *c, u64 id);
static unsigned int fuzz_p_revoked(struct fuzz_info *info,
				   const struct fuzz_case *c, u64 id);
static unsigned int fuzz_p_kept(struct fuzz_info *info,
				const struct fuzz_case *c, u64 id);

static const struct fuzz_case fuzz_cases[] = {
	{ "flag_last", case_flag_last },
	{ "second_wrong_op", case_second_wrong_op },
	{ "second_flagged", case_second_flagged },
	{ "wrong_id", case_wrong_id },
	{ "nr_segments_0", case_nr_segments_0 },
	{ "nr_segments_17", case_nr_segments_17 },
	{ "pi_bytes_short", case_pi_bytes_short },
	{ "pi_bytes_huge", case_pi_bytes_huge },
	{ "nr_segments_mismatch", case_nr_segments_mismatch },
	{ "gref_out_of_range", case_gref_out_of_range },
	{ "gref_revoked", case_gref_revoked },
	{ "pi_read_only_on_read", case_pi_read_only_on_read },
	{ "data_gref_revoked", case_data_gref_revoked },
	{ "second_pi_page_bad", case_second_pi_page_bad },
	{ "data_nr_segments_0", case_data_nr_segments_0 },
	{ "flagged_flush", case_flagged_flush },
	{ "flagged_discard", case_flagged_discard },
	{ "flagged_integrity", case_flagged_integrity },
	{ "lone_integrity", case_lone_integrity },
	{ "unaligned", case_unaligned },
	{ "pad1_nonzero", case_pad1_nonzero },
	{ "gref_past_nr_segments", case_gref_past_nr_segments },
	{ "gref_last_nonzero", case_gref_last_nonzero },
	{ "flood", NULL, fuzz_flood },
	{ "read_ok", case_read_ok },
	{ "write_ok", case_write_ok },
	{ "write_bad_guard", case_write_bad_guard },
	{ "read_back", case_read_back },
	{ "multipage_write_ok", case_mp_write_ok },
	{ "multipage_read_back", case_mp_read_back },
	{ "multipage_skip_write_ok", case_mp_skip_write_ok },
	{ "multipage_skip_read_back", case_mp_skip_read_back },
	{ "multipage_bad_guard_page3", case_mp_bad_guard_page3 },
};

static const struct fuzz_case fuzz_multipage_cases[] = {
	{ "multipage_write_ok", case_mp_write_ok },
	{ "multipage_read_back", case_mp_read_back },
	{ "multipage_skip_write_ok", case_mp_skip_write_ok },
	{ "multipage_skip_read_back", case_mp_skip_read_back },
	{ "multipage_bad_guard_page3", case_mp_bad_guard_page3 },
	{ "read_ok", case_read_ok },
};

static const struct fuzz_case fuzz_persistent_cases[] = {
	{ "persistent_write_ok", case_p_write_ok },
	{ "persistent_pi_is_data", case_p_pi_is_data },
	{ "persistent_pi_shared", case_p_pi_shared },
	{ "persistent_pi_read_only", case_p_pi_read_only },
	{ "persistent_pi_revoked", NULL, fuzz_p_revoked },
	{ "persistent_reuse_write_0", case_p_reuse_write, NULL, 0 },
	{ "persistent_reuse_read_0", case_p_reuse_read, NULL, 0 },
	{ "persistent_reuse_write_1", case_p_reuse_write, NULL, 1 },
	{ "persistent_reuse_read_1", case_p_reuse_read, NULL, 1 },
	{ "persistent_reuse_write_2", case_p_reuse_write, NULL, 2 },
	{ "persistent_reuse_read_2", case_p_reuse_read, NULL, 2 },
	{ "persistent_pi_kept", NULL, fuzz_p_kept },
};

static const struct fuzz_case fuzz_nodix_cases[] = {
	{ "nodix_flagged_read", case_nodix_flagged_read },
	{ "nodix_flagged_write", case_nodix_flagged_write },
	{ "nodix_flagged_indirect", case_nodix_flagged_indirect },
	{ "nodix_pair", case_nodix_pair },
	{ "nodix_read_ok", case_nodix_read_ok },
};

static bool fuzz_has_responses(struct fuzz_info *info)
{
	return READ_ONCE(info->ring.sring->rsp_prod) != info->ring.rsp_cons;
}

/* Take every response the backend has pushed; returns how many so far. */
static unsigned int fuzz_collect(struct fuzz_info *info)
{
	RING_IDX i, rp;
	int more;

	do {
		rp = READ_ONCE(info->ring.sring->rsp_prod);
		virt_rmb(); /* read rsp_prod before the responses */
		for (i = info->ring.rsp_cons; i != rp; i++) {
			if (info->nr_rsp < FUZZ_MAX_RSP)
				info->rsp[info->nr_rsp] =
					*RING_GET_RESPONSE(&info->ring, i);
			info->nr_rsp++;
		}
		info->ring.rsp_cons = rp;
		RING_FINAL_CHECK_FOR_RESPONSES(&info->ring, more);
	} while (more);
	return info->nr_rsp;
}

static void fuzz_push(struct fuzz_info *info, struct fuzz_slots *s)
{
	unsigned int i;

	for (i = 0; i < s->nr; i++)
		*RING_GET_REQUEST(&info->ring, info->ring.req_prod_pvt++) =
			s->slot[i];
	RING_PUSH_REQUESTS(&info->ring);
	notify_remote_via_irq(info->irq);
}

/* Whether the data of @s holds the pattern, from its byte @from on. */
static bool fuzz_data_ok(struct fuzz_slots *s, unsigned int from)
{
	unsigned int n, b;

	for (n = 0; n < fuzz_data_bytes(s) >> 9; n++) {
		u8 *buf = fuzz_sector_at(s, n);

		for (b = 0; b < 512; b++)
			if ((n << 9) + b >= from &&
			    buf[b] != fuzz_pattern(s->sector + n, b))
				return false;
	}
	return true;
}

static bool fuzz_compare(struct fuzz_info *info, struct fuzz_slots *s,
			 bool *pi_ok)
{
	unsigned int i, pi_bytes = fuzz_pi_bytes(info, fuzz_data_bytes(s));
	/* PI read into a data page lies over the start of the data. */
	bool data_ok = fuzz_data_ok(s, s->pi_in_data ? pi_bytes : 0);

	/* A second pair read the same sectors into a page of its own. */
	if (s->data_b) {
		struct page *first = s->data[0];

		s->data[0] = s->data_b;
		if (!fuzz_data_ok(s, 0))
			data_ok = false;
		s->data[0] = first;
	}
	/* The PI that was written: the pattern's, whatever came back. */
	*pi_ok = true;
	for (i = 0; i < pi_bytes / info->tuple_size; i++) {
		struct t10_pi_tuple pi;

		fuzz_tuple(info, s, i, &pi);
		if (memcmp(&pi, fuzz_pi_at(s, i), sizeof(pi)))
			*pi_ok = false;
	}
	return data_ok;
}

/* "a,b" from the responses' @field. */
static void fuzz_list(char *buf, size_t len, struct fuzz_info *info, int field)
{
	unsigned int i, n = min_t(unsigned int, info->nr_rsp, FUZZ_MAX_RSP);
	size_t pos = 0;

	buf[0] = '\0';
	for (i = 0; i < n && pos < len; i++) {
		long long v = field == 0 ? info->rsp[i].status :
			      field == 1 ? info->rsp[i].operation :
			      (long long)info->rsp[i].id;

		pos += scnprintf(buf + pos, len - pos, "%s%lld", i ? "," : "", v);
	}
	if (!n)
		scnprintf(buf, len, "none");
}

/* Push the slots of @s and take their responses (bounded). */
static void fuzz_exchange(struct fuzz_info *info, struct fuzz_slots *s)
{
	unsigned long deadline;

	info->nr_rsp = 0;
	fuzz_push(info, s);
	deadline = jiffies + FUZZ_TIMEOUT;
	while (fuzz_collect(info) < s->nr && time_before(jiffies, deadline))
		wait_event_timeout(info->wq, fuzz_has_responses(info), HZ / 10);
	/* Catch any response beyond the slots produced. */
	msleep(FUZZ_SETTLE_MS);
	fuzz_collect(info);
}

static unsigned int fuzz_run_case(struct fuzz_info *info,
				  const struct fuzz_case *c, u64 id)
{
	struct fuzz_slots *s = kzalloc(sizeof(*s), GFP_KERNEL);
	char status[48], ops[48], ids[48], extra[48] = "";
	unsigned int leaked;
	int err;

	if (!s)
		return 0;
	s->id = id;
	s->arg = c->arg;
	err = c->build(info, s);
	if (err) {
		leaked = fuzz_ungrant_all(info);
		if (err > 0)
			pr_info("fuzzfront: case=%s skipped=1 interval=%u vbd=%s\n",
				c->name, info->interval, info->vbd);
		else
			pr_info("fuzzfront: case=%s error=%d leaked=%u vbd=%s\n",
				c->name, err, leaked, info->vbd);
		kfree(s);
		return leaked;
	}

	fuzz_exchange(info, s);

	if (s->compare) {
		bool pi_ok, data_ok = fuzz_compare(info, s, &pi_ok);

		scnprintf(extra, sizeof(extra), " data_match=%d pi_match=%d",
			  data_ok, pi_ok);
	}
	leaked = fuzz_ungrant_all(info);
	fuzz_list(status, sizeof(status), info, 0);
	fuzz_list(ops, sizeof(ops), info, 1);
	fuzz_list(ids, sizeof(ids), info, 2);
	pr_info("fuzzfront: case=%s slots=%u responses=%u status=%s ops=%s ids=%s leaked=%u%s vbd=%s\n",
		c->name, s->nr, info->nr_rsp, status, ops, ids, leaked, extra,
		info->vbd);
	kfree(s);
	return leaked;
}

/*
 * A PI grant that blkback keeps, which the frontend then gives up.  A write
 * puts a PI page of the case's own (granted writable, not from the pool)
 * among blkback's persistent grants.  The frontend then tries to end the
 * grant (revoked=1 if it could: blkback did not keep it), gives the page to
 * the grant table to free once blkback lets go (gnttab_end_foreign_access(),
 * what a frontend does with a page it gives up), and sends the same write
 * again.  A write only reads its PI page, and the page stays allocated
 * until the grant ends, so nothing in the domU can be harmed, whatever
 * blkback does.  Logged as a case, with first= the statuses of the first
 * write:
 *
 *   case=persistent_pi_revoked slots=2 responses=2 status=S1,S2 ... first=F1,F2 revoked=R leaked=L
 */
static unsigned int fuzz_p_revoked(struct fuzz_info *info,
				   const struct fuzz_case *c, u64 id)
{
	struct fuzz_slots *s = kzalloc(sizeof(*s), GFP_KERNEL);
	char status[48], ops[48], ids[48], first[48];
	struct page *pi = alloc_page(GFP_KERNEL | __GFP_ZERO);
	unsigned int leaked;
	int gref = -ENOMEM, revoked;

	if (s && pi)
		gref = gnttab_grant_foreign_access(info->dev->otherend_id,
						   xen_page_to_gfn(pi), 0);
	if (gref < 0) {
		if (pi)
			__free_page(pi);
		pr_info("fuzzfront: case=%s error=%d leaked=0 vbd=%s\n",
			c->name, gref, info->vbd);
		kfree(s);
		return 0;
	}
	s->id = id;
	fuzz_p_pair(info, s, BLKIF_OP_WRITE, FUZZ_P_REVOKED_SECTOR, 0, pi, gref);
	fuzz_exchange(info, s);
	fuzz_list(first, sizeof(first), info, 0);

	revoked = gnttab_try_end_foreign_access(gref);
	if (revoked)
		__free_page(pi);
	else
		gnttab_end_foreign_access(gref, pi);
	fuzz_exchange(info, s);

	leaked = fuzz_ungrant_all(info);
	fuzz_list(status, sizeof(status), info, 0);
	fuzz_list(ops, sizeof(ops), info, 1);
	fuzz_list(ids, sizeof(ids), info, 2);
	pr_info("fuzzfront: case=%s slots=%u responses=%u status=%s ops=%s ids=%s first=%s revoked=%d leaked=%u vbd=%s\n",
		c->name, s->nr, info->nr_rsp, status, ops, ids, first, revoked,
		leaked, info->vbd);
	kfree(s);
	return leaked;
}

/*
 * Last: which of the pool's grants blkback still maps, now that every pair
 * is answered.  A grant that the backend maps cannot be ended (Xen keeps
 * it), so trying is how a frontend finds out; a grant that does end was
 * not kept, and its page is freed.  Logged as
 *
 *   case=persistent_pi_kept pi_grants=P pi_kept=K data_grants=D data_kept=M leaked=0
 */
static unsigned int fuzz_p_kept(struct fuzz_info *info,
				const struct fuzz_case *c, u64 id)
{
	unsigned int i, pi_kept = 0, data_kept = 0;

	for (i = 0; i < info->nr_pool; i++) {
		if (!info->pool_page[i])
			continue;
		if (!gnttab_try_end_foreign_access(info->pool_gref[i])) {
			if (i >= FUZZ_POOL_DATA)
				pi_kept++;
			else
				data_kept++;
			continue;
		}
		__free_page(info->pool_page[i]);
		info->pool_page[i] = NULL;
	}
	pr_info("fuzzfront: case=%s pi_grants=%u pi_kept=%u data_grants=%u data_kept=%u leaked=0 vbd=%s\n",
		c->name, FUZZ_POOL_PI, pi_kept, FUZZ_POOL_DATA, data_kept,
		info->vbd);
	return 0;
}

/*
 * The flood: FUZZ_FLOOD_PAIRS malformed pairs back to back, the ring kept
 * full, each refused at another step of blkback's checks (before and after
 * it maps grants).  All of them name the same few granted pages.  Every
 * slot must get one BLKIF_RSP_ERROR naming it, in order, and no grant may
 * stay mapped.  Logged as
 *
 *   case=flood pairs=P slots=N responses=N errors=E wrong=W full=F leaked=L
 *
 * where wrong counts responses that do not answer the slot they should,
 * and full how many times the ring was full when fuzzfront pushed.
 */
#define FUZZ_FLOOD_PAIRS	320
#define FUZZ_FLOOD_ID		0x10000
#define FUZZ_FLOOD_TIMEOUT	(60 * HZ)
#define FUZZ_FLOOD_RING		__CONST_RING_SIZE(blkif, XEN_PAGE_SIZE)

enum {
	FLOOD_WRONG_ID,
	FLOOD_PAD1,
	FLOOD_GREF_PAST,
	FLOOD_PI_SHORT,
	FLOOD_PI_UNMAPPED,
	FLOOD_DATA_UNMAPPED,
	FLOOD_PI_READ_ONLY,
	FLOOD_VARIANTS
};

struct fuzz_flood {
	grant_ref_t data, pi, ro;
	/* What the response to each ring slot must name. */
	u64 id[FUZZ_FLOOD_RING];
	u8 op[FUZZ_FLOOD_RING];
	unsigned int responses, errors, wrong;
};

/* Malformed pair @n into the next two ring slots. */
static void fuzz_flood_pair(struct fuzz_info *info, struct fuzz_flood *f,
			    unsigned int n)
{
	RING_IDX i = info->ring.req_prod_pvt;
	struct blkif_request *req = RING_GET_REQUEST(&info->ring, i);
	struct blkif_request *slot = RING_GET_REQUEST(&info->ring, i + 1);
	struct blkif_request_integrity *ireq = &slot->u.integrity;
	u64 id = FUZZ_FLOOD_ID + n;

	memset(req, 0, sizeof(*req));
	req->operation = BLKIF_OP_READ | BLKIF_OP_DIX_FLAG;
	req->u.rw.nr_segments = 1;
	req->u.rw.id = id;
	req->u.rw.sector_number = n % 64 * FUZZ_SECT_PER_PAGE;
	req->u.rw.seg[0].gref = f->data;
	req->u.rw.seg[0].first_sect = 0;
	req->u.rw.seg[0].last_sect = FUZZ_SECT_PER_PAGE - 1;

	memset(slot, 0, sizeof(*slot));
	slot->operation = BLKIF_OP_INTEGRITY;
	ireq->nr_segments = 1;
	ireq->pi_bytes = fuzz_pi_bytes(info, XEN_PAGE_SIZE);
	ireq->id = id;
	ireq->gref[0] = f->pi;
	switch (n % FLOOD_VARIANTS) {
	case FLOOD_WRONG_ID:
		ireq->id = id + FUZZ_FLOOD_PAIRS;
		break;
	case FLOOD_PAD1:
		ireq->_pad1 = 0xffff;
		break;
	case FLOOD_GREF_PAST:
		ireq->gref[1] = f->pi;
		break;
	case FLOOD_PI_SHORT:
		ireq->pi_bytes -= info->tuple_size;
		break;
	case FLOOD_PI_UNMAPPED:
		ireq->gref[0] = FUZZ_BAD_GREF;
		break;
	case FLOOD_DATA_UNMAPPED:
		req->u.rw.seg[0].gref = FUZZ_BAD_GREF;
		break;
	case FLOOD_PI_READ_ONLY:
		ireq->gref[0] = f->ro;
		break;
	}
	f->id[i % FUZZ_FLOOD_RING] = id;
	f->op[i % FUZZ_FLOOD_RING] = req->operation;
	f->id[(i + 1) % FUZZ_FLOOD_RING] = ireq->id;
	f->op[(i + 1) % FUZZ_FLOOD_RING] = BLKIF_OP_INTEGRITY;
	info->ring.req_prod_pvt = i + 2;
}

static void fuzz_flood_collect(struct fuzz_info *info, struct fuzz_flood *f)
{
	RING_IDX i, rp;
	int more;

	do {
		rp = READ_ONCE(info->ring.sring->rsp_prod);
		virt_rmb(); /* read rsp_prod before the responses */
		for (i = info->ring.rsp_cons; i != rp; i++) {
			struct blkif_response *rsp = RING_GET_RESPONSE(&info->ring, i);

			f->responses++;
			if (rsp->status == BLKIF_RSP_ERROR)
				f->errors++;
			if (rsp->id != f->id[i % FUZZ_FLOOD_RING] ||
			    rsp->operation != f->op[i % FUZZ_FLOOD_RING])
				f->wrong++;
		}
		info->ring.rsp_cons = rp;
		RING_FINAL_CHECK_FOR_RESPONSES(&info->ring, more);
	} while (more);
}

static unsigned int fuzz_flood(struct fuzz_info *info,
			       const struct fuzz_case *c, u64 id)
{
	struct fuzz_flood *f = kzalloc(sizeof(*f), GFP_KERNEL);
	unsigned int sent = 0, full = 0, leaked;
	unsigned long deadline;

	BUILD_BUG_ON(FUZZ_FLOOD_RING % 2);
	if (!f)
		return 0;
	if (!fuzz_grant(info, false, &f->data) ||
	    !fuzz_grant(info, false, &f->pi) ||
	    !fuzz_grant(info, true, &f->ro)) {
		leaked = fuzz_ungrant_all(info);
		pr_info("fuzzfront: case=%s error=%d leaked=%u vbd=%s\n",
			c->name, -ENOMEM, leaked, info->vbd);
		kfree(f);
		return leaked;
	}

	deadline = jiffies + FUZZ_FLOOD_TIMEOUT;
	while (f->responses < 2 * FUZZ_FLOOD_PAIRS &&
	       time_before(jiffies, deadline)) {
		if (sent < FUZZ_FLOOD_PAIRS &&
		    RING_FREE_REQUESTS(&info->ring) >= 2) {
			while (sent < FUZZ_FLOOD_PAIRS &&
			       RING_FREE_REQUESTS(&info->ring) >= 2)
				fuzz_flood_pair(info, f, sent++);
			if (RING_FULL(&info->ring))
				full++;
			RING_PUSH_REQUESTS(&info->ring);
			notify_remote_via_irq(info->irq);
		}
		wait_event_timeout(info->wq, fuzz_has_responses(info), HZ / 10);
		fuzz_flood_collect(info, f);
	}
	msleep(FUZZ_SETTLE_MS);
	fuzz_flood_collect(info, f);

	leaked = fuzz_ungrant_all(info);
	pr_info("fuzzfront: case=%s pairs=%u slots=%u responses=%u errors=%u wrong=%u full=%u leaked=%u vbd=%s\n",
		c->name, sent, 2 * sent, f->responses, f->errors, f->wrong,
		full, leaked, info->vbd);
	kfree(f);
	return leaked;
}

/*
 * Grant the persistent mode's pages for the connection, writable, as
 * xen-blkfront grants its pages with persistent grants: blkback may keep
 * them mapped from their first use to the end of the connection.
 */
static int fuzz_pool_grant(struct fuzz_info *info)
{
	while (info->nr_pool < FUZZ_POOL) {
		struct page *page = alloc_page(GFP_KERNEL | __GFP_ZERO);
		int gref;

		if (!page)
			return -ENOMEM;
		gref = gnttab_grant_foreign_access(info->dev->otherend_id,
						   xen_page_to_gfn(page), 0);
		if (gref < 0) {
			__free_page(page);
			return gref;
		}
		info->pool_gref[info->nr_pool] = gref;
		info->pool_page[info->nr_pool++] = page;
	}
	return 0;
}

/*
 * End the grants of the pool, when the connection closes: a page that the
 * backend still maps is freed by the grant table once it lets go.
 */
static void fuzz_pool_free(struct fuzz_info *info)
{
	unsigned int i;

	for (i = 0; i < info->nr_pool; i++)
		if (info->pool_page[i])
			gnttab_end_foreign_access(info->pool_gref[i],
						  info->pool_page[i]);
	info->nr_pool = 0;
}

static void fuzz_work(struct work_struct *work)
{
	struct fuzz_info *info = container_of(work, struct fuzz_info, work);
	const struct fuzz_case *cases = fuzz_cases;
	unsigned int i, n = ARRAY_SIZE(fuzz_cases), leaked = 0;
	int err;

	if (info->mode == FUZZ_NODIX) {
		cases = fuzz_nodix_cases;
		n = ARRAY_SIZE(fuzz_nodix_cases);
	} else if (info->mode == FUZZ_MULTIPAGE) {
		cases = fuzz_multipage_cases;
		n = ARRAY_SIZE(fuzz_multipage_cases);
	} else if (info->mode == FUZZ_PERSISTENT) {
		cases = fuzz_persistent_cases;
		n = ARRAY_SIZE(fuzz_persistent_cases);
	}
	if (info->mode != FUZZ_NODIX && (!info->interval || !info->tuple_size)) {
		pr_info("fuzzfront: done cases=0 error=no-data-integrity vbd=%s\n",
			info->vbd);
		return;
	}
	if (info->mode == FUZZ_PERSISTENT) {
		err = fuzz_pool_grant(info);
		if (err) {
			pr_info("fuzzfront: done cases=0 error=%d vbd=%s\n", err,
				info->vbd);
			return;
		}
	}
	mutex_lock(&fuzz_lock);
	for (i = 0; i < n; i++)
		leaked += (cases[i].run ?: fuzz_run_case)(info, &cases[i], i + 1);
	mutex_unlock(&fuzz_lock);
	pr_info("fuzzfront: done cases=%u leaked=%u vbd=%s\n", n, leaked,
		info->vbd);
}

/*
 * The frontend's nodes, in one transaction as xen-blkfront writes them
 * (talk_to_blkback()), before the switch to Initialised: blkback reads
 * them all when it connects the ring.
 */
static int fuzz_write_nodes(struct fuzz_info *info)
{
	const char *dir = info->dev->nodename;
	struct xenbus_transaction xbt;
	int err;

again:
	err = xenbus_transaction_start(&xbt);
	if (err)
		return err;
	err = xenbus_printf(xbt, dir, "ring-ref", "%u", info->ring_ref);
	if (!err)
		err = xenbus_printf(xbt, dir, "event-channel", "%u",
				    info->evtchn);
	if (!err)
		err = xenbus_printf(xbt, dir, "protocol", "%s",
				    XEN_IO_PROTO_ABI_NATIVE);
	/* The opt-in: a frontend that does not write it gets no pairs. */
	if (!err && info->opted_in)
		err = xenbus_printf(xbt, dir, "feature-data-integrity", "%u", 1);
	/*
	 * Persistent grants, and the PI pages granted for the connection
	 * too: blkback may then keep the PI grants of pairs mapped.
	 */
	if (!err && info->persistent)
		err = xenbus_printf(xbt, dir, "feature-persistent", "%u", 1);
	if (!err && info->persistent)
		err = xenbus_printf(xbt, dir, "feature-persistent-integrity",
				    "%u", 1);
	if (err) {
		xenbus_transaction_end(xbt, 1);
		return err;
	}
	err = xenbus_transaction_end(xbt, 0);
	if (err == -EAGAIN)
		goto again;
	return err;
}

static int fuzz_talk(struct fuzz_info *info)
{
	struct xenbus_device *dev = info->dev;
	struct blkif_sring *sring;
	int err;

	err = xenbus_setup_ring(dev, GFP_KERNEL, (void **)&sring, 1,
				&info->ring_ref);
	if (err)
		return err;
	XEN_FRONT_RING_INIT(&info->ring, sring, XEN_PAGE_SIZE);

	err = xenbus_alloc_evtchn(dev, &info->evtchn);
	if (err)
		return err;
	err = bind_evtchn_to_irqhandler(info->evtchn, fuzz_interrupt, 0,
					"fuzzfront", info);
	if (err < 0) {
		xenbus_free_evtchn(dev, info->evtchn);
		return err;
	}
	info->irq = err;

	err = fuzz_write_nodes(info);
	if (err)
		return err;
	return xenbus_switch_state(dev, XenbusStateInitialised);
}

/* What dom0 asks of this vbd ("fuzzfront-cases" in the backend's directory). */
static void fuzz_read_mode(struct fuzz_info *info)
{
	char *mode = xenbus_read(XBT_NIL, info->dev->otherend,
				 "fuzzfront-cases", NULL);
	int i;

	info->mode = FUZZ_ALL;
	if (!IS_ERR(mode)) {
		i = match_string(fuzz_modes, ARRAY_SIZE(fuzz_modes), mode);
		if (i >= 0)
			info->mode = i;
		kfree(mode);
	}
	info->opted_in = info->mode != FUZZ_NODIX;
	info->persistent = info->mode == FUZZ_PERSISTENT;
}

static void fuzz_connected(struct fuzz_info *info)
{
	struct xenbus_device *dev = info->dev;
	const char *be = dev->otherend;

	info->interval = xenbus_read_unsigned(be, "data-integrity-interval", 0);
	info->tuple_size = xenbus_read_unsigned(be, "data-integrity-tuple-size", 0);
	info->max_indirect = xenbus_read_unsigned(be, "feature-max-indirect-segments", 0);
	if (xenbus_scanf(XBT_NIL, be, "sectors", "%llu", &info->sectors) != 1)
		info->sectors = 0;
	if (info->interval && (!is_power_of_2(info->interval) ||
			       info->interval < 512 || info->interval > XEN_PAGE_SIZE))
		info->interval = 0;
	pr_info("fuzzfront: connected feature=%u interval=%u tuple_size=%u max_indirect=%u sectors=%llu mode=%s opted_in=%d persistent=%d backend_persistent=%u vbd=%s\n",
		xenbus_read_unsigned(be, "feature-data-integrity", 0),
		info->interval, info->tuple_size, info->max_indirect,
		info->sectors, fuzz_modes[info->mode], info->opted_in,
		info->persistent,
		xenbus_read_unsigned(be, "feature-persistent", 0), info->vbd);
	/* Confirm the profile, as a frontend that registered it does. */
	if (info->opted_in) {
		char *format = xenbus_read(XBT_NIL, be, "data-integrity-format",
					   NULL);

		if (!IS_ERR(format)) {
			xenbus_printf(XBT_NIL, dev->nodename,
				      "data-integrity-format", "%s", format);
			kfree(format);
		}
	}
	xenbus_switch_state(dev, XenbusStateConnected);
	schedule_work(&info->work);
}

static void fuzz_backend_changed(struct xenbus_device *dev,
				 enum xenbus_state backend_state)
{
	struct fuzz_info *info = dev_get_drvdata(&dev->dev);
	int err;

	switch (backend_state) {
	case XenbusStateInitWait:
		if (dev->state != XenbusStateInitialising)
			break;
		fuzz_read_mode(info);
		err = fuzz_talk(info);
		if (err)
			xenbus_dev_fatal(dev, err, "fuzzfront setup");
		break;
	case XenbusStateConnected:
		if (info->started)
			break;
		info->started = true;
		fuzz_connected(info);
		break;
	case XenbusStateClosing:
		flush_work(&info->work);
		fuzz_pool_free(info);
		xenbus_frontend_closed(dev);
		break;
	default:
		break;
	}
}

static int fuzz_probe(struct xenbus_device *dev,
		      const struct xenbus_device_id *id)
{
	struct fuzz_info *info = kzalloc(sizeof(*info), GFP_KERNEL);

	if (!info)
		return -ENOMEM;
	info->dev = dev;
	info->vbd = strrchr(dev->nodename, '/') + 1;
	init_waitqueue_head(&info->wq);
	INIT_WORK(&info->work, fuzz_work);
	dev_set_drvdata(&dev->dev, info);
	return 0;
}

static void fuzz_remove(struct xenbus_device *dev)
{
	struct fuzz_info *info = dev_get_drvdata(&dev->dev);

	flush_work(&info->work);
	fuzz_pool_free(info);
	if (info->irq > 0)
		unbind_from_irqhandler(info->irq, info);
	if (info->ring.sring)
		xenbus_teardown_ring((void **)&info->ring.sring, 1,
				     &info->ring_ref);
	kfree(info);
}

static const struct xenbus_device_id fuzz_ids[] = {
	{ "vbd" },
	{ "" }
};

static struct xenbus_driver fuzz_driver = {
	.ids = fuzz_ids,
	.probe = fuzz_probe,
	.remove = fuzz_remove,
	.otherend_changed = fuzz_backend_changed,
	.not_essential = true,
};

static int __init fuzz_init(void)
{
	/* The integrity slot's id is where every other request has it. */
	BUILD_BUG_ON(offsetof(struct blkif_request, u.integrity.id) !=
		     offsetof(struct blkif_request, u.rw.id));
	BUILD_BUG_ON(offsetof(struct blkif_request, u.integrity.id) !=
		     offsetof(struct blkif_request, u.other.id));
	if (!xen_domain())
		return -ENODEV;
	return xenbus_register_frontend(&fuzz_driver);
}
module_init(fuzz_init);

static void __exit fuzz_exit(void)
{
	xenbus_unregister_driver(&fuzz_driver);
}
module_exit(fuzz_exit);

MODULE_DESCRIPTION("Hostile DIX frontend for the xen-dix lab (tests only)");
MODULE_LICENSE("GPL");
