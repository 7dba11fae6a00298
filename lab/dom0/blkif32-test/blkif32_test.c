// SPDX-License-Identifier: GPL-2.0
/*
 * blkif32_test: runs xen-blkback's own translation of ring requests from a
 * non-native guest, blkif_get_x86_32_req() (and blkif_get_x86_64_req()),
 * on DIX request pairs and on the other request types, in dom0.  For the
 * xen-dix lab only.
 *
 * Linux dropped 32-bit PV guests in 5.9, so no guest of ours puts x86_32
 * requests on a ring; and on an x86_64 dom0 a frontend that writes
 * "x86_64-abi" gets the native ring, so blkif_get_x86_64_req() does not
 * run either.  This module runs both, as blkback calls them, on slots
 * that it lays out in a ring page the way a guest of that ABI does, and
 * compares every field of the native request they produce.
 *
 * The translation functions come from the series' patched sources:
 * drivers/block/xen-blkback/common.h (6.1, static inline there), or
 * blkif32_xlate.h, which the Kbuild file copies out of blkback.c (6.12,
 * where they are static functions of blkback.c).
 *
 * At load it runs every case and logs one line for each:
 *
 *   blkif32_test: case NAME: ok
 *   blkif32_test: case NAME: FAIL field slotS.FIELD: got 0xG want 0xW
 *
 * (the first wrong field of the case), then
 *
 *   blkif32_test: N cases, M failed
 *
 * and the load fails (-EINVAL) unless every case passed.  mutate=NAME
 * flips one bit of one field of what case NAME expects, so that a test
 * can see the module fail, and name the field, when the translation does
 * not produce what a case expects.  A name that is no case fails the load.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/build_bug.h>
#include <linux/gfp.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/stddef.h>
#include <linux/string.h>

#include "common.h"
#include "blkif32_xlate.h"

/*
 * The x86_32 ABI of the ring, as a 32-bit guest lays it out: Xen's public
 * io/blkif.h and io/ring.h, unpacked, with the i386 System V rules (a
 * uint64_t is aligned to 4 bytes in a structure, so nothing pads the id
 * after the 4 bytes before it).  The integrity slot is the one of
 * docs/protocol.md ("The request pair"), which has no _pad2 on x86_32.
 * Offsets count from the start of the slot, operation included.
 */
#define X32_SLOT		108	/* sizeof(struct blkif_request) on i386 */
#define X32_RW_NR		1
#define X32_RW_HANDLE		2
#define X32_RW_ID		4
#define X32_RW_SECTOR		12
#define X32_RW_SEG		20
#define X32_DISCARD_FLAG	1
#define X32_DISCARD_ID		4
#define X32_DISCARD_SECTOR	12
#define X32_DISCARD_NR_SECTORS	20
#define X32_DISCARD_END		28	/* sizeof(struct blkif_request_discard) */
#define X32_OTHER_ID		4
#define X32_IND_OP		1
#define X32_IND_NR		2
#define X32_IND_ID		4
#define X32_IND_SECTOR		12
#define X32_IND_HANDLE		20
#define X32_IND_GREFS		24
#define X32_IND_END		64	/* with its uint64_t pad "on i386" */
#define X32_INT_NR		1
#define X32_INT_PAD1		2
#define X32_INT_ID		4
#define X32_INT_PI_BYTES	12
#define X32_INT_GREF		16
#define X32_INT_END		80

/* The same on x86_64, where a uint64_t is aligned to 8 bytes. */
#define X64_SLOT		112
#define X64_RW_NR		1
#define X64_RW_HANDLE		2
#define X64_RW_ID		8
#define X64_RW_SECTOR		16
#define X64_RW_SEG		24
#define X64_DISCARD_FLAG	1
#define X64_DISCARD_ID		8
#define X64_DISCARD_SECTOR	16
#define X64_DISCARD_NR_SECTORS	24
#define X64_DISCARD_END		32
#define X64_OTHER_ID		8
#define X64_IND_OP		1
#define X64_IND_NR		2
#define X64_IND_ID		8
#define X64_IND_SECTOR		16
#define X64_IND_HANDLE		24
#define X64_IND_GREFS		28
#define X64_IND_END		64
#define X64_INT_NR		1
#define X64_INT_PAD1		2
#define X64_INT_ID		8
#define X64_INT_PI_BYTES	16
#define X64_INT_GREF		20
#define X64_INT_END		84

/* Both: a segment, a response, and the shared ring page of one page. */
#define SEG_SIZE		8
#define SEG_FIRST_SECT		4
#define SEG_LAST_SECT		5
#define RSP_OPERATION		8
#define RSP_STATUS		10
#define SRING_ENTRIES		64	/* offset of ring[] in the shared page */
#define SRING_SLOTS		32	/* entries in one 4096-byte page */

#define X32(m)	offsetof(struct blkif_x86_32_request, m)
#define X64(m)	offsetof(struct blkif_x86_64_request, m)
#define NAT(m)	offsetof(struct blkif_request, m)

static_assert(sizeof(struct blkif_request_segment) == SEG_SIZE);
static_assert(offsetof(struct blkif_request_segment, gref) == 0);
static_assert(offsetof(struct blkif_request_segment, first_sect) == SEG_FIRST_SECT);
static_assert(offsetof(struct blkif_request_segment, last_sect) == SEG_LAST_SECT);
static_assert(BLKIF_MAX_SEGMENTS_PER_REQUEST == 11);
static_assert(BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST == 8);
static_assert(BLKIF_MAX_INTEGRITY_SEGMENTS == 16);
static_assert(BLKIF_OP_DIX_FLAG == 0x80 && BLKIF_OP_INTEGRITY == 7);

static_assert(sizeof(struct blkif_x86_32_request) == X32_SLOT);
static_assert(X32(operation) == 0);
static_assert(X32(u.rw.nr_segments) == X32_RW_NR);
static_assert(X32(u.rw.handle) == X32_RW_HANDLE);
static_assert(X32(u.rw.id) == X32_RW_ID);
static_assert(X32(u.rw.sector_number) == X32_RW_SECTOR);
static_assert(X32(u.rw.seg) == X32_RW_SEG);
static_assert(X32_RW_SEG + 11 * SEG_SIZE == X32_SLOT);
static_assert(X32(u.discard.flag) == X32_DISCARD_FLAG);
static_assert(X32(u.discard.id) == X32_DISCARD_ID);
static_assert(X32(u.discard.sector_number) == X32_DISCARD_SECTOR);
static_assert(X32(u.discard.nr_sectors) == X32_DISCARD_NR_SECTORS);
static_assert(1 + sizeof(struct blkif_x86_32_request_discard) == X32_DISCARD_END);
static_assert(X32(u.other.id) == X32_OTHER_ID);
static_assert(X32(u.indirect.indirect_op) == X32_IND_OP);
static_assert(X32(u.indirect.nr_segments) == X32_IND_NR);
static_assert(X32(u.indirect.id) == X32_IND_ID);
static_assert(X32(u.indirect.sector_number) == X32_IND_SECTOR);
static_assert(X32(u.indirect.handle) == X32_IND_HANDLE);
static_assert(X32(u.indirect.indirect_grefs) == X32_IND_GREFS);
static_assert(1 + sizeof(struct blkif_x86_32_request_indirect) == X32_IND_END);
static_assert(X32(u.integrity.nr_segments) == X32_INT_NR);
static_assert(X32(u.integrity._pad1) == X32_INT_PAD1);
static_assert(X32(u.integrity.id) == X32_INT_ID);
static_assert(X32(u.integrity.pi_bytes) == X32_INT_PI_BYTES);
static_assert(X32(u.integrity.gref) == X32_INT_GREF);
static_assert(1 + sizeof(struct blkif_x86_32_request_integrity) == X32_INT_END);

static_assert(sizeof(struct blkif_x86_64_request) == X64_SLOT);
static_assert(X64(u.rw.nr_segments) == X64_RW_NR);
static_assert(X64(u.rw.handle) == X64_RW_HANDLE);
static_assert(X64(u.rw.id) == X64_RW_ID);
static_assert(X64(u.rw.sector_number) == X64_RW_SECTOR);
static_assert(X64(u.rw.seg) == X64_RW_SEG);
static_assert(X64_RW_SEG + 11 * SEG_SIZE == X64_SLOT);
static_assert(X64(u.discard.flag) == X64_DISCARD_FLAG);
static_assert(X64(u.discard.id) == X64_DISCARD_ID);
static_assert(X64(u.discard.sector_number) == X64_DISCARD_SECTOR);
static_assert(X64(u.discard.nr_sectors) == X64_DISCARD_NR_SECTORS);
static_assert(1 + sizeof(struct blkif_x86_64_request_discard) == X64_DISCARD_END);
static_assert(X64(u.other.id) == X64_OTHER_ID);
static_assert(X64(u.indirect.indirect_op) == X64_IND_OP);
static_assert(X64(u.indirect.nr_segments) == X64_IND_NR);
static_assert(X64(u.indirect.id) == X64_IND_ID);
static_assert(X64(u.indirect.sector_number) == X64_IND_SECTOR);
static_assert(X64(u.indirect.handle) == X64_IND_HANDLE);
static_assert(X64(u.indirect.indirect_grefs) == X64_IND_GREFS);
static_assert(1 + sizeof(struct blkif_x86_64_request_indirect) == X64_IND_END);
static_assert(X64(u.integrity.nr_segments) == X64_INT_NR);
static_assert(X64(u.integrity._pad1) == X64_INT_PAD1);
static_assert(X64(u.integrity.id) == X64_INT_ID);
static_assert(X64(u.integrity.pi_bytes) == X64_INT_PI_BYTES);
static_assert(X64(u.integrity.gref) == X64_INT_GREF);
static_assert(1 + sizeof(struct blkif_x86_64_request_integrity) == X64_INT_END);

/* dom0 is x86_64: the native request blkback works on has its layout. */
static_assert(sizeof(struct blkif_request) == X64_SLOT);
static_assert(NAT(u.rw.id) == X64_RW_ID && NAT(u.rw.seg) == X64_RW_SEG);
static_assert(NAT(u.discard.nr_sectors) == X64_DISCARD_NR_SECTORS);
static_assert(NAT(u.indirect.indirect_grefs) == X64_IND_GREFS);
static_assert(NAT(u.integrity.id) == X64_INT_ID);
static_assert(NAT(u.integrity.gref) == X64_INT_GREF);
static_assert(1 + sizeof(struct blkif_request_integrity) == X64_INT_END);

/* The field widths the translation copies. */
static_assert(sizeof_field(struct blkif_x86_32_request, u.rw.nr_segments) == 1);
static_assert(sizeof_field(struct blkif_x86_32_request, u.rw.handle) == 2);
static_assert(sizeof_field(struct blkif_x86_32_request, u.rw.id) == 8);
static_assert(sizeof_field(struct blkif_x86_32_request, u.rw.sector_number) == 8);
static_assert(sizeof_field(struct blkif_x86_32_request, u.discard.nr_sectors) == 8);
static_assert(sizeof_field(struct blkif_x86_32_request, u.indirect.nr_segments) == 2);
static_assert(sizeof_field(struct blkif_x86_32_request, u.indirect.handle) == 2);
static_assert(sizeof_field(struct blkif_x86_32_request, u.integrity.nr_segments) == 1);
static_assert(sizeof_field(struct blkif_x86_32_request, u.integrity._pad1) == 2);
static_assert(sizeof_field(struct blkif_x86_32_request, u.integrity.id) == 8);
static_assert(sizeof_field(struct blkif_x86_32_request, u.integrity.pi_bytes) == 4);
static_assert(sizeof_field(struct blkif_x86_32_request, u.integrity.gref[0]) == 4);

/* Responses: the same fields at the same places on both ABIs. */
static_assert(offsetof(struct blkif_response, id) == 0);
static_assert(offsetof(struct blkif_response, operation) == RSP_OPERATION);
static_assert(offsetof(struct blkif_response, status) == RSP_STATUS);

/* The shared ring page: header, then slots of the ABI's request size. */
static_assert(offsetof(struct blkif_x86_32_sring, ring) == SRING_ENTRIES);
static_assert(sizeof(union blkif_x86_32_sring_entry) == X32_SLOT);
static_assert(__CONST_RING_SIZE(blkif_x86_32, XEN_PAGE_SIZE) == SRING_SLOTS);
static_assert(offsetof(struct blkif_x86_64_sring, ring) == SRING_ENTRIES);
static_assert(sizeof(union blkif_x86_64_sring_entry) == X64_SLOT);
static_assert(__CONST_RING_SIZE(blkif_x86_64, XEN_PAGE_SIZE) == SRING_SLOTS);

/*
 * The translation copies min(MAX_INDIRECT_PAGES, INDIRECT_PAGES(n)) of an
 * indirect request's indirect_grefs: with 4 KiB pages, 256 segments fit in
 * one indirect page, so it copies indirect_grefs[0] alone (none when
 * nr_segments is 0).  The cases below expect that.
 */
static_assert(MAX_INDIRECT_PAGES == 1);

enum b32_abi {
	B32_X86_32,
	B32_X86_64,
};

/* What the translation copies, after the operation. */
enum b32_kind {
	B32_RW,		/* READ, WRITE, WRITE_BARRIER, FLUSH_DISKCACHE */
	B32_DISCARD,
	B32_INDIRECT,
	B32_INTEGRITY,
	B32_OTHER,	/* an unknown operation: only the id */
};

/*
 * One slot as the guest writes it, and what the translation must make of
 * it.  Its id, sector and grant references derive from @n (b32_id(),
 * b32_sector(), b32_gref()): the two slots of a pair share an id.  The
 * guest fills the first @filled entries of the slot's array (rw: seg[],
 * indirect: indirect_grefs[], integrity: gref[]) and the rest with 0.  The
 * translation must copy the first @copied of them (rw, indirect) and leave
 * the others of the native request as they were.  An integrity slot's
 * gref[] is always copied whole, reserved entries included, so that
 * blkback's validation sees them.
 */
struct b32_slot {
	u8 op;
	u8 kind;
	u8 n;
	u8 filled;
	u8 copied;
	u8 indirect_op;
	u8 flag;	/* discard */
	u16 nr;		/* nr_segments */
	u16 handle;
	u16 pad1;	/* integrity _pad1 */
	u32 pi_bytes;
	u64 nr_sectors;	/* discard */
};

struct b32_case {
	const char *name;
	u8 abi;
	u8 start;	/* ring index of the first slot; a pair may wrap */
	u8 nr_slots;
	struct b32_slot slot[2];
	/* mutate=name: the byte of slot[mut_slot]'s expected request to flip */
	u8 mut_slot;
	u8 mut_off;
};

/* The guest leaves these in what it does not write; dom0 in its request. */
#define B32_GUEST_JUNK	0x5a
#define B32_POISON	0xa5
#define B32_GUARD	32

#define RW(_op, _nr, _filled, _copied, _n) {				\
	.op = (_op), .kind = B32_RW, .nr = (_nr), .handle = 0x4142,	\
	.filled = (_filled), .copied = (_copied), .n = (_n) }
#define INDIRECT(_op, _nr, _filled, _copied, _n) {			\
	.op = BLKIF_OP_INDIRECT | BLKIF_OP_DIX_FLAG, .kind = B32_INDIRECT, \
	.indirect_op = (_op), .nr = (_nr), .handle = 0x4344,		\
	.filled = (_filled), .copied = (_copied), .n = (_n) }
#define INTEGRITY(_nr, _pad1, _filled, _pi_bytes, _n) {		\
	.op = BLKIF_OP_INTEGRITY, .kind = B32_INTEGRITY, .nr = (_nr),	\
	.pad1 = (_pad1), .filled = (_filled), .pi_bytes = (_pi_bytes),	\
	.n = (_n) }
#define DISCARD(_op, _flag, _nr_sectors, _n) {				\
	.op = (_op), .kind = B32_DISCARD, .flag = (_flag),		\
	.nr_sectors = (_nr_sectors), .n = (_n) }
#define MUTATE(_slot, _field) .mut_slot = (_slot), .mut_off = NAT(_field)

#define RD	(BLKIF_OP_READ | BLKIF_OP_DIX_FLAG)
#define WR	(BLKIF_OP_WRITE | BLKIF_OP_DIX_FLAG)
#define B32_MAX	BLKIF_MAX_SEGMENTS_PER_REQUEST
#define B32_PI	BLKIF_MAX_INTEGRITY_SEGMENTS

static const struct b32_case b32_cases[] = {
	{ "x32_read_pair", B32_X86_32, 3, 2,
	  { RW(RD, 1, 1, 1, 1), INTEGRITY(1, 0, 1, 64, 1) },
	  MUTATE(1, u.integrity.id) },
	/* 44 KiB at 512-byte intervals: 88 tuples, one PI page */
	{ "x32_write_pair_max_segments", B32_X86_32, 5, 2,
	  { RW(WR, B32_MAX, B32_MAX, B32_MAX, 2),
	    INTEGRITY(1, 0, 1, 704, 2) },
	  MUTATE(0, u.rw.seg[10].last_sect) },
	/* The guest's other seg[] entries are left over: not copied */
	{ "x32_write_pair_one_segment", B32_X86_32, 7, 2,
	  { RW(WR, 1, B32_MAX, 1, 3), INTEGRITY(1, 0, 1, 64, 3) },
	  MUTATE(0, u.rw.seg[0].gref) },
	/* Reserved fields set: carried over unchanged for blkback to refuse */
	{ "x32_integrity_reserved_grefs", B32_X86_32, 9, 2,
	  { RW(WR, 1, 1, 1, 4), INTEGRITY(1, 0, B32_PI, 64, 4) },
	  MUTATE(1, u.integrity.gref[15]) },
	{ "x32_integrity_reserved_pad1", B32_X86_32, 11, 2,
	  { RW(RD, 1, 1, 1, 5), INTEGRITY(1, 0xbeef, 1, 64, 5) },
	  MUTATE(1, u.integrity._pad1) },
	{ "x32_integrity_16_segments", B32_X86_32, 13, 2,
	  { RW(RD, 8, 8, 8, 6),
	    INTEGRITY(B32_PI, 0, B32_PI, 0x10000, 6) },
	  MUTATE(1, u.integrity.nr_segments) },
	/* 1 MiB: 256 segments in indirect_grefs[0], 4 pages of PI */
	{ "x32_indirect_read_pair", B32_X86_32, 15, 2,
	  { INDIRECT(BLKIF_OP_READ, 256, 8, 1, 7),
	    INTEGRITY(4, 0, 4, 16384, 7) },
	  MUTATE(0, u.indirect.indirect_grefs[0]) },
	{ "x32_indirect_write_pair", B32_X86_32, 17, 2,
	  { INDIRECT(BLKIF_OP_WRITE, 17, 1, 1, 8),
	    INTEGRITY(1, 0, 1, 1088, 8) },
	  MUTATE(0, u.indirect.indirect_op) },
	{ "x32_indirect_65535_segments", B32_X86_32, 19, 2,
	  { INDIRECT(BLKIF_OP_WRITE, 0xffff, 8, 1, 9),
	    INTEGRITY(B32_PI, 0, B32_PI, 0x12345678, 9) },
	  MUTATE(0, u.indirect.nr_segments) },
	{ "x32_indirect_no_segments", B32_X86_32, 21, 2,
	  { INDIRECT(BLKIF_OP_READ, 0, 8, 0, 10),
	    INTEGRITY(0, 0, 0, 0, 10) },
	  MUTATE(0, u.indirect.indirect_grefs[0]) },
	/* The pair straddles the ring's wrap point: slots 31 and 0 */
	{ "x32_pair_wraps", B32_X86_32, 31, 2,
	  { RW(WR, 2, 2, 2, 11), INTEGRITY(1, 0, 1, 128, 11) },
	  MUTATE(1, u.integrity.gref[0]) },
	/* An integrity slot on its own is translated like one of a pair */
	{ "x32_integrity_alone", B32_X86_32, 24, 1,
	  { INTEGRITY(2, 0, 2, 0xfedcba98, 12) },
	  MUTATE(0, u.integrity.pi_bytes) },
	/* Requests without the flag, as before the series */
	{ "x32_read", B32_X86_32, 0, 1,
	  { RW(BLKIF_OP_READ, 2, B32_MAX, 2, 13) },
	  MUTATE(0, u.rw.handle) },
	{ "x32_write_255_segments", B32_X86_32, 1, 1,
	  { RW(BLKIF_OP_WRITE, 255, B32_MAX, B32_MAX, 14) },
	  MUTATE(0, u.rw.nr_segments) },
	{ "x32_flush", B32_X86_32, 2, 1,
	  { RW(BLKIF_OP_FLUSH_DISKCACHE, 0, B32_MAX, 0, 15) },
	  MUTATE(0, u.rw.id) },
	{ "x32_barrier", B32_X86_32, 25, 1,
	  { RW(BLKIF_OP_WRITE_BARRIER, 1, 1, 1, 16) },
	  MUTATE(0, u.rw.sector_number) },
	{ "x32_discard", B32_X86_32, 26, 1,
	  { DISCARD(BLKIF_OP_DISCARD, BLKIF_DISCARD_SECURE,
		    0x0807060504030201ULL, 17) },
	  MUTATE(0, u.discard.nr_sectors) },
	/* The flag on a discard: a discard, its operation as it came */
	{ "x32_discard_flagged", B32_X86_32, 27, 1,
	  { DISCARD(BLKIF_OP_DISCARD | BLKIF_OP_DIX_FLAG, 0, 8, 18) },
	  MUTATE(0, operation) },
	/* The guest writes a read's fields: only the id is taken */
	{ "x32_unknown_op", B32_X86_32, 28, 1,
	  { { .op = 0xff, .kind = B32_OTHER, .nr = 3, .handle = 0x4546,
	      .filled = B32_MAX, .n = 19 } },
	  MUTATE(0, u.other.id) },
	/* The x86_64 ABI, which a dom0 of that ABI never translates either */
	{ "x64_write_pair", B32_X86_64, 30, 2,
	  { RW(WR, 3, B32_MAX, 3, 20), INTEGRITY(1, 0, B32_PI, 64, 20) },
	  MUTATE(1, u.integrity.gref[15]) },
	{ "x64_indirect_read_pair", B32_X86_64, 4, 2,
	  { INDIRECT(BLKIF_OP_READ, 256, 8, 1, 21),
	    INTEGRITY(B32_PI, 0x0102, B32_PI, 16384, 21) },
	  MUTATE(1, u.integrity.id) },
	{ "x64_discard", B32_X86_64, 6, 1,
	  { DISCARD(BLKIF_OP_DISCARD, 0, 0x1000, 22) },
	  MUTATE(0, u.discard.sector_number) },
};

static char *mutate = "";
module_param(mutate, charp, 0444);
MODULE_PARM_DESC(mutate,
		 "name of a case whose expected request gets one field wrong");

/* Values whose bytes differ from each other and from the other fields. */
static u64 b32_id(const struct b32_slot *s)
{
	return 0x1817161514131200ULL | s->n;
}

static u64 b32_sector(const struct b32_slot *s)
{
	return 0x2827262524232200ULL | s->n;
}

static u32 b32_gref(const struct b32_slot *s, unsigned int i)
{
	u32 base = 0x31000000U | s->n << 16;

	if (s->kind == B32_INTEGRITY)
		base |= 0x00800000U;
	return i < s->filled ? base + i * 0x0101U : 0;
}

static u8 b32_first(const struct b32_slot *s, unsigned int i)
{
	return i < s->filled ? i % 8 : 0;
}

static u8 b32_last(const struct b32_slot *s, unsigned int i)
{
	return i < s->filled ? 7 - i % 3 : 0;
}

/* The guest's slot, on the x86_32 ABI. */
static void b32_put_x86_32(struct blkif_x86_32_request *r,
			   const struct b32_slot *s)
{
	unsigned int i;

	r->operation = s->op;
	switch (s->kind) {
	case B32_RW:
	case B32_OTHER:
		r->u.rw.nr_segments = s->nr;
		r->u.rw.handle = s->handle;
		r->u.rw.id = b32_id(s);
		r->u.rw.sector_number = b32_sector(s);
		for (i = 0; i < BLKIF_MAX_SEGMENTS_PER_REQUEST; i++) {
			r->u.rw.seg[i].gref = b32_gref(s, i);
			r->u.rw.seg[i].first_sect = b32_first(s, i);
			r->u.rw.seg[i].last_sect = b32_last(s, i);
		}
		break;
	case B32_DISCARD:
		r->u.discard.flag = s->flag;
		r->u.discard.id = b32_id(s);
		r->u.discard.sector_number = b32_sector(s);
		r->u.discard.nr_sectors = s->nr_sectors;
		break;
	case B32_INDIRECT:
		r->u.indirect.indirect_op = s->indirect_op;
		r->u.indirect.nr_segments = s->nr;
		r->u.indirect.id = b32_id(s);
		r->u.indirect.sector_number = b32_sector(s);
		r->u.indirect.handle = s->handle;
		for (i = 0; i < BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; i++)
			r->u.indirect.indirect_grefs[i] = b32_gref(s, i);
		break;
	case B32_INTEGRITY:
		r->u.integrity.nr_segments = s->nr;
		r->u.integrity._pad1 = s->pad1;
		r->u.integrity.id = b32_id(s);
		r->u.integrity.pi_bytes = s->pi_bytes;
		for (i = 0; i < BLKIF_MAX_INTEGRITY_SEGMENTS; i++)
			r->u.integrity.gref[i] = b32_gref(s, i);
		break;
	}
}

/* The guest's slot, on the x86_64 ABI; its padding is left as it was. */
static void b32_put_x86_64(struct blkif_x86_64_request *r,
			   const struct b32_slot *s)
{
	unsigned int i;

	r->operation = s->op;
	switch (s->kind) {
	case B32_RW:
	case B32_OTHER:
		r->u.rw.nr_segments = s->nr;
		r->u.rw.handle = s->handle;
		r->u.rw.id = b32_id(s);
		r->u.rw.sector_number = b32_sector(s);
		for (i = 0; i < BLKIF_MAX_SEGMENTS_PER_REQUEST; i++) {
			r->u.rw.seg[i].gref = b32_gref(s, i);
			r->u.rw.seg[i].first_sect = b32_first(s, i);
			r->u.rw.seg[i].last_sect = b32_last(s, i);
		}
		break;
	case B32_DISCARD:
		r->u.discard.flag = s->flag;
		r->u.discard.id = b32_id(s);
		r->u.discard.sector_number = b32_sector(s);
		r->u.discard.nr_sectors = s->nr_sectors;
		break;
	case B32_INDIRECT:
		r->u.indirect.indirect_op = s->indirect_op;
		r->u.indirect.nr_segments = s->nr;
		r->u.indirect.id = b32_id(s);
		r->u.indirect.sector_number = b32_sector(s);
		r->u.indirect.handle = s->handle;
		for (i = 0; i < BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; i++)
			r->u.indirect.indirect_grefs[i] = b32_gref(s, i);
		break;
	case B32_INTEGRITY:
		r->u.integrity.nr_segments = s->nr;
		r->u.integrity._pad1 = s->pad1;
		r->u.integrity.id = b32_id(s);
		r->u.integrity.pi_bytes = s->pi_bytes;
		for (i = 0; i < BLKIF_MAX_INTEGRITY_SEGMENTS; i++)
			r->u.integrity.gref[i] = b32_gref(s, i);
		break;
	}
}

/*
 * The native request the translation must produce from @s, over a request
 * that held B32_POISON: what it does not copy stays B32_POISON.
 */
static void b32_expect(struct blkif_request *w, const struct b32_slot *s)
{
	unsigned int i;

	memset(w, B32_POISON, sizeof(*w));
	w->operation = s->op;
	switch (s->kind) {
	case B32_RW:
		w->u.rw.nr_segments = s->nr;
		w->u.rw.handle = s->handle;
		w->u.rw.id = b32_id(s);
		w->u.rw.sector_number = b32_sector(s);
		for (i = 0; i < s->copied; i++) {
			w->u.rw.seg[i].gref = b32_gref(s, i);
			w->u.rw.seg[i].first_sect = b32_first(s, i);
			w->u.rw.seg[i].last_sect = b32_last(s, i);
		}
		break;
	case B32_DISCARD:
		w->u.discard.flag = s->flag;
		w->u.discard.id = b32_id(s);
		w->u.discard.sector_number = b32_sector(s);
		w->u.discard.nr_sectors = s->nr_sectors;
		break;
	case B32_INDIRECT:
		w->u.indirect.indirect_op = s->indirect_op;
		w->u.indirect.nr_segments = s->nr;
		w->u.indirect.handle = s->handle;
		w->u.indirect.id = b32_id(s);
		w->u.indirect.sector_number = b32_sector(s);
		for (i = 0; i < s->copied; i++)
			w->u.indirect.indirect_grefs[i] = b32_gref(s, i);
		break;
	case B32_INTEGRITY:
		w->u.integrity.nr_segments = s->nr;
		w->u.integrity._pad1 = s->pad1;
		w->u.integrity.id = b32_id(s);
		w->u.integrity.pi_bytes = s->pi_bytes;
		for (i = 0; i < BLKIF_MAX_INTEGRITY_SEGMENTS; i++)
			w->u.integrity.gref[i] = b32_gref(s, i);
		break;
	case B32_OTHER:
		w->u.other.id = b32_id(s);
		break;
	}
}

/*
 * The fields of the native request (x86_64: see the static_asserts above)
 * that each kind of request has: name, member of an array entry, offset,
 * size, entries, stride.
 */
struct b32_field {
	const char *name;
	const char *member;
	u8 off;
	u8 size;
	u8 count;
	u8 stride;
};

static_assert(NAT(u.integrity._pad1) == X64_INT_PAD1);
static_assert(sizeof_field(struct blkif_request, u.rw.handle) == 2);
static_assert(sizeof_field(struct blkif_request, u.indirect.nr_segments) == 2);
static_assert(sizeof_field(struct blkif_request, u.indirect.handle) == 2);
static_assert(sizeof_field(struct blkif_request, u.integrity._pad1) == 2);
static_assert(sizeof_field(struct blkif_request, u.integrity.pi_bytes) == 4);

static const struct b32_field b32_rw_fields[] = {
	{ "u.rw.nr_segments", "", X64_RW_NR, 1, 1, 0 },
	{ "u.rw.handle", "", X64_RW_HANDLE, 2, 1, 0 },
	{ "u.rw.id", "", X64_RW_ID, 8, 1, 0 },
	{ "u.rw.sector_number", "", X64_RW_SECTOR, 8, 1, 0 },
	{ "u.rw.seg", ".gref", X64_RW_SEG, 4, 11, SEG_SIZE },
	{ "u.rw.seg", ".first_sect", X64_RW_SEG + SEG_FIRST_SECT, 1, 11,
	  SEG_SIZE },
	{ "u.rw.seg", ".last_sect", X64_RW_SEG + SEG_LAST_SECT, 1, 11,
	  SEG_SIZE },
	{ }
};

static const struct b32_field b32_discard_fields[] = {
	{ "u.discard.flag", "", X64_DISCARD_FLAG, 1, 1, 0 },
	{ "u.discard.id", "", X64_DISCARD_ID, 8, 1, 0 },
	{ "u.discard.sector_number", "", X64_DISCARD_SECTOR, 8, 1, 0 },
	{ "u.discard.nr_sectors", "", X64_DISCARD_NR_SECTORS, 8, 1, 0 },
	{ }
};

static const struct b32_field b32_indirect_fields[] = {
	{ "u.indirect.indirect_op", "", X64_IND_OP, 1, 1, 0 },
	{ "u.indirect.nr_segments", "", X64_IND_NR, 2, 1, 0 },
	{ "u.indirect.id", "", X64_IND_ID, 8, 1, 0 },
	{ "u.indirect.sector_number", "", X64_IND_SECTOR, 8, 1, 0 },
	{ "u.indirect.handle", "", X64_IND_HANDLE, 2, 1, 0 },
	{ "u.indirect.indirect_grefs", "", X64_IND_GREFS, 4, 8, 4 },
	{ }
};

static const struct b32_field b32_integrity_fields[] = {
	{ "u.integrity.nr_segments", "", X64_INT_NR, 1, 1, 0 },
	{ "u.integrity._pad1", "", X64_INT_PAD1, 2, 1, 0 },
	{ "u.integrity.id", "", X64_INT_ID, 8, 1, 0 },
	{ "u.integrity.pi_bytes", "", X64_INT_PI_BYTES, 4, 1, 0 },
	{ "u.integrity.gref", "", X64_INT_GREF, 4, 16, 4 },
	{ }
};

static const struct b32_field b32_other_fields[] = {
	{ "u.other.id", "", X64_OTHER_ID, 8, 1, 0 },
	{ }
};

static const struct {
	const struct b32_field *fields;
	/* The translation writes no byte from here on */
	u8 end;
} b32_kinds[] = {
	[B32_RW] = { b32_rw_fields, X64_SLOT },
	[B32_DISCARD] = { b32_discard_fields, X64_DISCARD_END },
	[B32_INDIRECT] = { b32_indirect_fields, X64_IND_END },
	[B32_INTEGRITY] = { b32_integrity_fields, X64_INT_END },
	[B32_OTHER] = { b32_other_fields, X64_OTHER_ID + 8 },
};

/* The native request, and bytes after it that nothing may write. */
struct b32_native {
	struct blkif_request req;
	u8 guard[B32_GUARD];
} __packed;

/* The first wrong field of a case, and how many were wrong. */
struct b32_result {
	unsigned int wrong;
	char field[64];
	u64 got;
	u64 want;
};

static void b32_check(struct b32_result *r, unsigned int slot,
		      const char *name, int idx, const char *member,
		      u64 got, u64 want)
{
	if (got == want)
		return;
	if (!r->wrong++) {
		if (idx < 0)
			snprintf(r->field, sizeof(r->field), "slot%u.%s%s",
				 slot, name, member);
		else
			snprintf(r->field, sizeof(r->field), "slot%u.%s[%d]%s",
				 slot, name, idx, member);
		r->got = got;
		r->want = want;
	}
}

/* A little-endian field of @size bytes. */
static u64 b32_get(const u8 *p, unsigned int size)
{
	u64 v = 0;

	while (size--)
		v = v << 8 | p[size];
	return v;
}

/*
 * Every field of the kind of request; every byte after the request type
 * in the native request (the translation must not write them); for an
 * unknown operation, the bytes before the id too; and the guard after the
 * native request.
 */
static void b32_compare(struct b32_result *r, unsigned int slot,
			const struct b32_native *got,
			const struct blkif_request *want, enum b32_kind kind)
{
	const u8 *g = (const u8 *)&got->req, *w = (const u8 *)want;
	const struct b32_field *f;
	unsigned int i, at;

	b32_check(r, slot, "operation", -1, "", g[0], w[0]);
	for (f = b32_kinds[kind].fields; f->name; f++) {
		for (i = 0; i < f->count; i++) {
			at = f->off + i * f->stride;
			b32_check(r, slot, f->name, f->count > 1 ? i : -1,
				  f->member, b32_get(g + at, f->size),
				  b32_get(w + at, f->size));
		}
	}
	if (kind == B32_OTHER) {
		for (i = 1; i < X64_OTHER_ID; i++)
			b32_check(r, slot, "byte", i, "", g[i], w[i]);
	}
	for (i = b32_kinds[kind].end; i < sizeof(got->req); i++)
		b32_check(r, slot, "byte", i, "", g[i], w[i]);
	for (i = 0; i < B32_GUARD; i++)
		b32_check(r, slot, "guard", i, "", got->guard[i], B32_POISON);
}

static int b32_run(const struct b32_case *c, void *page, bool mutated)
{
	struct blkif_x86_32_back_ring back32;
	struct blkif_x86_64_back_ring back64;
	struct b32_result r = { 0 };
	struct blkif_request want;
	struct b32_native got;
	unsigned int k;

	/* A ring page as a guest hands it over, with junk in unused bytes */
	memset(page, B32_GUEST_JUNK, XEN_PAGE_SIZE);
	SHARED_RING_INIT((struct blkif_x86_32_sring *)page);
	BACK_RING_INIT(&back32, (struct blkif_x86_32_sring *)page,
		       XEN_PAGE_SIZE);
	BACK_RING_INIT(&back64, (struct blkif_x86_64_sring *)page,
		       XEN_PAGE_SIZE);

	for (k = 0; k < c->nr_slots; k++) {
		const struct b32_slot *s = &c->slot[k];
		unsigned int idx = c->start + k;
		size_t size = c->abi == B32_X86_32 ? X32_SLOT : X64_SLOT;
		void *slot = page + SRING_ENTRIES + (idx % SRING_SLOTS) * size;
		void *src;

		/* The guest writes the slot; blkback reads it off its ring */
		memset(&got, B32_POISON, sizeof(got));
		if (c->abi == B32_X86_32) {
			struct blkif_x86_32_request *req;

			b32_put_x86_32(slot, s);
			req = RING_GET_REQUEST(&back32, idx);
			blkif_get_x86_32_req(&got.req, req);
			src = req;
		} else {
			struct blkif_x86_64_request *req;

			b32_put_x86_64(slot, s);
			req = RING_GET_REQUEST(&back64, idx);
			blkif_get_x86_64_req(&got.req, req);
			src = req;
		}
		b32_check(&r, k, "ring_offset", -1, "", src - page,
			  slot - page);

		b32_expect(&want, s);
		if (mutated && k == c->mut_slot)
			((u8 *)&want)[c->mut_off] ^= 1;
		b32_compare(&r, k, &got, &want, s->kind);
	}

	if (!r.wrong) {
		pr_info("case %s: ok\n", c->name);
		return 0;
	}
	pr_err("case %s: FAIL field %s: got 0x%llx want 0x%llx\n",
	       c->name, r.field, r.got, r.want);
	return -EINVAL;
}

static int __init blkif32_test_init(void)
{
	unsigned int i, failed = 0;
	bool named = !*mutate;
	void *page;

	for (i = 0; i < ARRAY_SIZE(b32_cases); i++)
		named |= !strcmp(mutate, b32_cases[i].name);
	if (!named) {
		pr_err("mutate=%s names no case\n", mutate);
		return -EINVAL;
	}

	page = (void *)get_zeroed_page(GFP_KERNEL);
	if (!page)
		return -ENOMEM;
	for (i = 0; i < ARRAY_SIZE(b32_cases); i++) {
		const struct b32_case *c = &b32_cases[i];

		if (b32_run(c, page, !strcmp(mutate, c->name)))
			failed++;
	}
	free_page((unsigned long)page);

	pr_info("%zu cases, %u failed\n", ARRAY_SIZE(b32_cases), failed);
	return failed ? -EINVAL : 0;
}

static void __exit blkif32_test_exit(void)
{
}

module_init(blkif32_test_init);
module_exit(blkif32_test_exit);

MODULE_DESCRIPTION("xen-dix lab: xen-blkback's translation of x86_32 requests");
MODULE_LICENSE("GPL");
