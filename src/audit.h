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
 * and records each (SPI connected), then calls hook (if any), each project
 * in a subtransaction of its own: an error in one project's data becomes
 * that project's error (recorded as its failure, then hook again), and
 * every other project is still recorded.  A cancel or timeout is the
 * caller's and propagates.  Never fails because a project does.
 *
 * A project is recorded as soon as its answer is complete, while the others
 * are still read, and its memory is freed once it is done (its snapshot's
 * rows too), so that a check holds the answers in flight, not the fleet's.
 * Returns the snapshots, each holding its project, ok, error and
 * elapsed_ms, and (*counts)[i] for snapshot i.
 */
extern ProjectSnapshot *AuditAll(const char *only, AuditProjectHook hook, void *arg,
								 int *nprojects, InventoryCounts **counts);

#endif							/* SUPAMON_AUDIT_H */
