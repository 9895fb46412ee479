/*
 * inventory.h
 *		Recording what was collected from a project.
 */
#ifndef SUPAMON_INVENTORY_H
#define SUPAMON_INVENTORY_H

#include "collect.h"

typedef struct InventoryCounts
{
	int			jobs;
	int			new_jobs;
	int			removed_jobs;
	int			runs_read;
	int			runs_logged;
} InventoryCounts;

/* Records a successful snapshot (SPI must be connected). */
extern void InventoryRecord(ProjectSnapshot *snap, InventoryCounts *counts);

/* Records why a project could not be collected; its jobs keep their state. */
extern void InventoryRecordFailure(ProjectSnapshot *snap);

/*
 * Records what the Management API said of the project (its Edge Functions,
 * their traffic, its status there), whether or not its database answered.
 * edge_record.c.
 */
extern void InventoryRecordEdge(ProjectSnapshot *snap);

/*
 * Records which jobs call pg_net, queues their new runs, and matches the
 * responses read to the runs whose window closed.  pgnet_record.c.
 */
extern void PgNetRecord(ProjectSnapshot *snap);

#endif							/* SUPAMON_INVENTORY_H */
