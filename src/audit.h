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

/* Records every snapshot (SPI connected); counts[i] for snaps[i]. */
extern void AuditRecordAll(ProjectSnapshot *snaps, int n, InventoryCounts *counts);

#endif							/* SUPAMON_AUDIT_H */
