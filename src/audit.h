/*
 * audit.h
 *		Collecting every project at once.
 */
#ifndef SUPAMON_AUDIT_H
#define SUPAMON_AUDIT_H

#include "collect.h"
#include "inventory.h"

/* What a caller does with a project after recording it (check.c decides). */
typedef void (*AuditProjectHook) (ProjectSnapshot *snap, void *arg);

/*
 * Locks and collects the enabled projects (or the one named), concurrently,
 * each answer read into its snapshot as it comes (the rows as sent freed);
 * records each (SPI connected) as it comes or, when it cannot then, once
 * the collection is over (see audit.c), and calls hook (if any), each project
 * in a subtransaction of its own: an error in one project's data becomes
 * that project's error (recorded as its failure, then hook again), and
 * every other project is still recorded.  A cancel or timeout is the
 * caller's and propagates.  Never fails because a project does.  Each
 * project's memory is freed once it is recorded (its snapshot's rows too).
 * Returns the snapshots, each holding its project, ok, error and
 * elapsed_ms, and (*counts)[i] for snapshot i.  arg_size: the bytes of
 * *arg, restored when a project's recording is rolled back to be done
 * again later (0: nothing to restore).
 */
extern ProjectSnapshot *AuditAll(const char *only, AuditProjectHook hook, void *arg,
								 size_t arg_size, int *nprojects, InventoryCounts **counts);

#endif							/* SUPAMON_AUDIT_H */
