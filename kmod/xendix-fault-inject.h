/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fault injection for a kernel built without it.
 *
 * kmod/xendix-kbuild --fault-injection, for a kernel without
 * CONFIG_FAULT_INJECTION (Debian's), builds the kernel's own
 * lib/fault-inject.c into xen-blkback.ko, and the top-level Kbuild
 * force-includes this header (-include) into xen-blkback's objects and
 * into lib/fault-inject.c, so that they see the framework's declarations
 * and CONFIG_FAIL_XEN_BLKBACK_DIX.
 *
 * CONFIG_FAULT_INJECTION is not defined on the command line: under it
 * <linux/sched.h> gives struct task_struct two more fields (make_it_fail,
 * fail_nth), and an object that sees that layout while the kernel has the
 * other one reads and writes the wrong fields of every task.  Here sched.h,
 * and every header that <linux/fault-inject.h> includes, is read first,
 * with the kernel's configuration; only then are the options defined and
 * <linux/fault-inject.h> read.
 *
 * lib/fault-inject.c (XENDIX_FAULT_INJECT_LIB) reads and writes
 * current->fail_nth and tests a task's make_it_fail, which this kernel's
 * tasks do not have: in that file they name a zeroed task of its own, so
 * fail-nth never triggers and a fault attribute with task-filter set never
 * fails (leave task-filter at N).  CONFIG_FAULT_INJECTION_STACKTRACE_FILTER
 * stays off.
 */
#ifndef _XENDIX_FAULT_INJECT_H
#define _XENDIX_FAULT_INJECT_H

#include <linux/sched.h>
#include <linux/err.h>
#include <linux/types.h>
#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/configfs.h>
#include <linux/ratelimit.h>

#ifdef CONFIG_FAULT_INJECTION
#error "the kernel has CONFIG_FAULT_INJECTION: use its fault injection"
#endif

#define CONFIG_FAULT_INJECTION 1
#define CONFIG_FAULT_INJECTION_DEBUG_FS 1
#define CONFIG_FAIL_XEN_BLKBACK_DIX 1
#include <linux/fault-inject.h>

#ifndef XENDIX_FAULT_INJECT_LIB
/* printk.h's default: the drivers define their own after this header. */
#undef pr_fmt
#else
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/random.h>
#include <linux/stat.h>
#include <linux/string.h>
#include <linux/fs.h>
#include <linux/export.h>
#include <linux/interrupt.h>
#include <linux/stacktrace.h>

struct xendix_fault_task {
	int make_it_fail;
	unsigned int fail_nth;
};

static struct xendix_fault_task xendix_fault_task;

#define task_struct xendix_fault_task
#undef current
#define current (&xendix_fault_task)
#endif /* XENDIX_FAULT_INJECT_LIB */

#endif /* _XENDIX_FAULT_INJECT_H */
