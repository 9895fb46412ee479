/*
 * inventory.h
 *		Recording what was collected from a project.
 */
#ifndef SUPAMON_INVENTORY_H
#define SUPAMON_INVENTORY_H

#include "collect.h"

/*
 * SQL for the criticality a job or function found now takes: the longest
 * matching pattern of its project's rules ($1 the project), the project's
 * own default last, else 'important'.  name: the SQL expression of its name.
 */
#define DEFAULT_CRITICALITY_SQL(name) \
	" coalesce((SELECT d.criticality FROM supamon.criticality_default d" \
	"   WHERE d.project_name = $1 AND (d.job_pattern IS NULL OR " name " LIKE" \
	"     pg_catalog.replace(pg_catalog.replace(d.job_pattern, '\\', '\\\\'), '_', '\\_'))" \
	"   ORDER BY d.job_pattern IS NULL, pg_catalog.length(d.job_pattern) DESC, d.id LIMIT 1)," \
	"   'important')"

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

/* The run strip: the newest STRIP_RUNS outcomes, each one mark (inventory.c). */
#define STRIP_RUNS 20
extern const char *SupamonStripMark(char what);

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
