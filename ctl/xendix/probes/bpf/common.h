/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by xendix's bcc tools (ctl/xendix/probes/).  Python puts this
 * file in front of a tool's program and fills in the tracepoint system,
 * blkback's in dom0 or blkfront's with --guest (bpf.py, program()).
 * Tracepoint fields are read by name as issue 8's spec gives them
 * (probes/spec.py).
 */
#include <uapi/linux/ptrace.h>

#define XENDIX_DISK_LEN 32	/* DISK_NAME_LEN */

/* A read that failed the guest's own PI verify (--guest, kprobes). */
struct verify_t {
	char disk[XENDIX_DISK_LEN];
	u64 sector;		/* the failing interval's seed, as the block layer counts it */
	u32 nr_sectors;		/* 512-byte sectors of what was verified */
	u32 dev;		/* the disk's dev_t when the probe knows it, else 0 */
};
