/* SPDX-License-Identifier: GPL-2.0 */
/*
 * --guest verify failures, Linux 6.12: blk_integrity_verify(struct bio *)
 * (block/t10-pi.c, called by bio-integrity.c's completion worker for a
 * read whose I/O succeeded) sets bio->bi_status on the first bad
 * interval and returns nothing.  Python attaches verify_entry and
 * verify_return to it when /proc/kallsyms lists it.
 */
#include <linux/blk-integrity.h>

BPF_HASH(verify_calls, u32, struct bio *, 1024);

int verify_entry(struct pt_regs *ctx, struct bio *bio)
{
	u32 tid = bpf_get_current_pid_tgid();

	verify_calls.update(&tid, &bio);
	return 0;
}

int verify_return(struct pt_regs *ctx)
{
	u32 tid = bpf_get_current_pid_tgid();
	struct bio **biop = verify_calls.lookup(&tid);
	struct bio *bio;
	struct block_device *bdev = NULL;
	struct gendisk *disk = NULL;
	struct bio_integrity_payload *bip = NULL;
	struct bvec_iter it = {};
	struct verify_t f = {};
	blk_status_t status = 0;
	dev_t dev = 0;

	if (!biop)
		return 0;
	bio = *biop;
	verify_calls.delete(&tid);
	bpf_probe_read_kernel(&status, sizeof(status), &bio->bi_status);
	if (!status)
		return 0;
	bpf_probe_read_kernel(&bdev, sizeof(bdev), &bio->bi_bdev);
	bpf_probe_read_kernel(&dev, sizeof(dev), &bdev->bd_dev);
	bpf_probe_read_kernel(&disk, sizeof(disk), &bdev->bd_disk);
	bpf_probe_read_kernel_str(f.disk, sizeof(f.disk), &disk->disk_name);
	bpf_probe_read_kernel(&bip, sizeof(bip), &bio->bi_integrity);
	bpf_probe_read_kernel(&it, sizeof(it), &bip->bio_iter);
	f.sector = it.bi_sector;
	f.nr_sectors = it.bi_size >> 9;
	f.dev = dev;
	on_verify(ctx, &f);
	return 0;
}
