/*
 * edge.h
 *		A project's Edge Functions as the Supabase Management API lists them,
 *		with their recent traffic, and the project's own state there.
 */
#ifndef SUPAMON_EDGE_H
#define SUPAMON_EDGE_H

#include "datatype/timestamp.h"
#include "remote.h"

/* How many functions of one project are read at most. */
#define EDGE_MAX_FUNCTIONS 1000

typedef struct EdgeFunction
{
	char	   *id;				/* the API's id; NULL when unusable */
	char	   *slug;			/* cleaned and capped */
	char	   *status;			/* ACTIVE, REMOVED, THROTTLED... (cleaned) */
	int64		version;		/* -1 unknown */
	int64		updated_at;		/* Unix microseconds, or PG_INT64_MIN */
	bool		stats_ok;		/* its traffic was read */
	int64		requests;
	int64		server_errors;
	int64		client_errors;
	char	   *stats_error;	/* why not, when asked and failed */
	bool		stats_deferred; /* not asked this check: others' turn */
} EdgeFunction;

typedef struct EdgeSnapshot
{
	bool		asked;			/* the API was asked this check */
	bool		settled;		/* nothing more is asked (but the project's
								 * status, for a database that did not
								 * answer) */
	bool		ok;				/* the function list came */
	char	   *error;			/* why not (never the token) */
	bool		refused;		/* 401/403/404: the token or the ref is wrong */
	bool		rate_limited;	/* a 429 (or no requests left) stopped it */
	TimestampTz retry_at;		/* with rate_limited: when to ask again */
	char	   *project_status; /* the API's status of the project, or NULL */
	int			nfunctions;
	EdgeFunction *functions;
	int			functions_room; /* entries functions has room for */
	int			duplicates;		/* functions whose slug came twice, ignored */
	int			stats_missing;	/* active functions whose traffic is unknown */
	int			elapsed_ms;
} EdgeSnapshot;

typedef struct EdgeFleet EdgeFleet;

/* What supamon knows of a project's functions: slugs sorted, and when their
 * traffic was read (Unix microseconds, PG_INT64_MIN: never). */
typedef struct EdgeKnown
{
	int			n;
	char	  **slugs;
	int64	   *stats_at;
} EdgeKnown;

/*
 * Plans the Management API calls of n projects (refs[i] NULL: none; a
 * blocked_until[i] in the future: not asked, rate limited) into snaps[i],
 * with supamon.supabase_access_token and supamon.management_api_url; NULL
 * when no project has a ref or the token is not set.  *side runs them
 * beside the projects' connections (RemoteExecuteAll), within one
 * supamon.http_timeout; EdgeFleetRelease on every path afterwards.
 */
extern EdgeFleet *EdgeFleetPlan(const char *const *refs, const TimestampTz *blocked_until,
								const EdgeKnown *known, EdgeSnapshot *snaps, int n,
								RemoteSideWork *side);

/*
 * Plans, for the projects whose database did not answer, the call that says
 * whether Supabase paused them; true when there is one to run (through
 * RemoteExecuteAll with no connection and the same side).
 */
extern bool EdgeFleetAskStatus(EdgeFleet *fleet, const bool *unreachable, int n);
extern void EdgeFleetRelease(EdgeFleet *fleet);

/* Whether the API's project status says Supabase paused (or is restoring) it. */
extern bool EdgeProjectIsPaused(const char *status);

#endif							/* SUPAMON_EDGE_H */
