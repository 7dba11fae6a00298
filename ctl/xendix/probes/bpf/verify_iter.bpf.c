/* SPDX-License-Identifier: GPL-2.0 */
/*
 * --guest verify failures, Linux 6.1: the T10 profiles' verify_fn
 * (t10_pi_type{1,3}_verify_{crc,ip}, called through the profile's function
 * pointer, so real symbols) get a struct blk_integrity_iter * per bio
 * segment and return BLK_STS_PROTECTION on the first bad interval, with
 * iter->seed at that interval.  Python attaches verify_entry and
 * verify_return to those that /proc/kallsyms lists.
 */
#include <linux/blk-integrity.h>

struct verify_call_t {
	struct blk_integrity_iter *iter;
	u32 nr_sectors;
};

BPF_HASH(verify_calls, u32, struct verify_call_t, 1024);

int verify_entry(struct pt_regs *ctx, struct blk_integrity_iter *iter)
{
	u32 tid = bpf_get_current_pid_tgid();
	struct verify_call_t call = {};
	unsigned int size = 0;

	bpf_probe_read_kernel(&size, sizeof(size), &iter->data_size);
	call.iter = iter;
	call.nr_sectors = size >> 9;
	verify_calls.update(&tid, &call);
	return 0;
}

int verify_return(struct pt_regs *ctx)
{
	u32 tid = bpf_get_current_pid_tgid();
	struct verify_call_t *call = verify_calls.lookup(&tid);
	struct blk_integrity_iter *iter;
	struct verify_t f = {};
	const char *name = NULL;
	sector_t seed = 0;

	if (!call)
		return 0;
	iter = call->iter;
	if ((u8)PT_REGS_RC(ctx) != 0) {	/* blk_status_t: a u8 in %al */
		bpf_probe_read_kernel(&name, sizeof(name), &iter->disk_name);
		bpf_probe_read_kernel_str(f.disk, sizeof(f.disk), name);
		bpf_probe_read_kernel(&seed, sizeof(seed), &iter->seed);
		f.sector = seed;
		f.nr_sectors = call->nr_sectors;
		on_verify(ctx, &f);
	}
	verify_calls.delete(&tid);
	return 0;
}
