/*
 * audit.h
 *		Collecting every project at once.
 */
#ifndef SUPAMON_AUDIT_H
#define SUPAMON_AUDIT_H

#include "collect.h"
#include "inventory.h"

/*
 * Locks and collects the enabled projects (or the one named), concurrently;
 * SPI must be connected.  Never fails because a project does: see each
 * snapshot's ok and error.
 */
extern ProjectSnapshot *AuditProjects(const char *only, int *nprojects);

/* What a caller does with a project after recording it (check.c decides). */
typedef void (*AuditProjectHook) (ProjectSnapshot *snap, void *arg);

/*
 * Records every snapshot (SPI connected), then calls hook (if any), each
 * project in a subtransaction of its own: an error in one project's data
 * becomes that project's error (recorded as its failure, then hook again),
 * and every other project is still recorded.  A cancel or timeout is the
 * caller's and propagates.  counts[i] for snaps[i].  Each project's memory
 * is freed once it is done (its snapshot's rows too): afterwards a
 * snapshot holds its project, ok, error and elapsed_ms.
 */
extern void AuditRecordAll(ProjectSnapshot *snaps, int n, InventoryCounts *counts,
						   AuditProjectHook hook, void *arg);

#endif							/* SUPAMON_AUDIT_H */
