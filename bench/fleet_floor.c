/*
 * fleet_floor.c
 *		The floor of a fleet check: a bare libpq client that reads N projects
 *		the way supamon does (non-blocking, C at a time, one round trip of a
 *		read-only transaction per project: facts, jobs and the runs newer than
 *		the last seen), and does nothing else with the answers.  What supamon
 *		adds on top of it (recording, deciding, its own database) is the gap
 *		between a check and this.
 *
 *	  fleet_floor CONNINFO_FILE CONCURRENCY
 *
 * CONNINFO_FILE holds one libpq connection string per line.  Commands come
 * on stdin, one a line, and each answers one line on stdout:
 *	  fresh   connect to every project, query, read, close (C at a time)
 *			  -> "<ms> <runs read>"
 *	  open    connect to every project and keep the connections -> "<ms>"
 *	  kept    query every kept connection (C at a time) -> "<ms> <runs read>"
 *	  quit    close everything and exit
 * Each mode remembers, per project, the highest runid it has seen, so every
 * round reads only the runs added since its previous round (as supamon's
 * check does).  Any failure (a connection refused, a query error, nothing
 * within 120 s) ends the program with a message on stderr and exit code 1:
 * a broken round is never timed.
 *
 * Built by bench/fleet.sh: gcc -O2 -I$(pg_config --includedir) ... -lpq
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libpq-fe.h"

/* how long one round may take before the floor gives up */
#define ROUND_TIMEOUT_MS 120000

typedef enum
{
	P_IDLE,						/* nothing to do this round */
	P_WAITING,					/* to do, not started (over the concurrency) */
	P_CONNECTING,
	P_QUERYING,
	P_DONE
} PState;

typedef struct
{
	const char *conninfo;
	PGconn	   *conn;			/* the kept connection, or this round's */
	PState		state;
	PostgresPollingStatusType polling;
	int			flushing;
	int			query_after_connect;	/* fresh: query once connected */
	int			close_after;	/* fresh: close once answered */
	long long	high_water;		/* the highest runid seen (by this mode) */
	int			set;			/* which result set is being read */
	long		runs;			/* runs read this round */
} Project;

/* each mode its own: fresh's connections last a round, kept's the run */
static Project *modes[2];
static int	nprojects;
static int	concurrency;

static void
die(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	fprintf(stderr, "fleet_floor: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* The project's error, on one line. */
static const char *
conn_error(Project *p)
{
	static char buf[1024];
	char	   *s;

	snprintf(buf, sizeof(buf), "%s", p->conn ? PQerrorMessage(p->conn) : "out of memory");
	for (s = buf; *s; s++)
		if (*s == '\n')
			*s = ' ';
	return buf;
}

/*
 * What supamon sends, in kind: one read-only REPEATABLE READ transaction with
 * SET LOCAL settings, then its facts (the clock, pg_cron's settings, the
 * backends), the highest runid, the jobs, and the runs above the high-water
 * mark, texts cut on the server as supamon cuts them.
 */
static char *
build_query(long long high_water)
{
	static char sql[4096];

	snprintf(sql, sizeof(sql),
			 "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
			 "SET LOCAL search_path = pg_catalog; SET LOCAL TimeZone = 'UTC'; "
			 "SET LOCAL DateStyle = 'ISO'; SET LOCAL statement_timeout = 30000; "
			 "SET LOCAL lock_timeout = 30000; "
			 "SELECT extract(epoch FROM now()), s.timezone, s.log_run, a.launchers, current_user, current_database() "
			 "FROM (SELECT max(setting) FILTER (WHERE name = 'cron.timezone') AS timezone,"
			 "             max(setting) FILTER (WHERE name = 'cron.log_run') AS log_run"
			 "      FROM pg_catalog.pg_settings WHERE name IN ('cron.timezone', 'cron.log_run')) s, "
			 "     (SELECT count(*) FILTER (WHERE backend_type = 'pg_cron launcher') AS launchers"
			 "      FROM pg_catalog.pg_stat_get_activity(NULL)) a; "
			 "SELECT max(runid) FROM cron.job_run_details; "
			 "SELECT jobid, left(jobname::text, 201), left(schedule, 1001), left(command, 10001), "
			 "left(username, 129), left(database, 129), active FROM cron.job ORDER BY jobid LIMIT 100001; "
			 "SELECT d.jobid, d.runid, left(d.status, 21), left(d.return_message, 2001), "
			 "extract(epoch FROM d.start_time), extract(epoch FROM d.end_time) "
			 "FROM cron.job_run_details d WHERE d.runid > %lld ORDER BY 2 LIMIT 100001; "
			 "COMMIT",
			 high_water);
	return sql;
}

static void
send_query(Project *p)
{
	p->set = 0;
	p->runs = 0;
	if (!PQsendQuery(p->conn, build_query(p->high_water)))
		die("%s: cannot send the query: %s", p->conninfo, conn_error(p));
	/* row by row, as supamon reads */
	if (!PQsetSingleRowMode(p->conn))
		die("%s: cannot read row by row", p->conninfo);
	p->state = P_QUERYING;
	p->flushing = 1;
}

static void
finish(Project *p)
{
	if (p->close_after)
	{
		PQfinish(p->conn);
		p->conn = NULL;
	}
	p->state = P_DONE;
}

static void
start_connect(Project *p)
{
	const char *keywords[] = {"dbname", "application_name", "client_encoding", NULL};
	const char *values[] = {p->conninfo, "fleet_floor", "SQL_ASCII", NULL};

	p->conn = PQconnectStartParams(keywords, values, 1);
	if (p->conn == NULL || PQstatus(p->conn) == CONNECTION_BAD)
		die("%s: cannot connect: %s", p->conninfo, conn_error(p));
	if (PQsetnonblocking(p->conn, 1) != 0)
		die("%s: cannot set non-blocking", p->conninfo);
	p->polling = PGRES_POLLING_WRITING;
	p->state = P_CONNECTING;
}

/* Reads what has come; the answer's values are touched, not kept. */
static void
read_results(Project *p)
{
	while (p->state == P_QUERYING && !PQisBusy(p->conn))
	{
		PGresult   *res = PQgetResult(p->conn);

		if (res == NULL)
		{
			finish(p);
			return;
		}
		switch (PQresultStatus(res))
		{
			case PGRES_SINGLE_TUPLE:
				{
					size_t		bytes = 0;

					for (int c = 0; c < PQnfields(res); c++)
						bytes += PQgetlength(res, 0, c);
					(void) bytes;
					/* sets: 0 facts, 1 highest runid, 2 jobs, 3 runs */
					if (p->set == 1 && !PQgetisnull(res, 0, 0))
						p->high_water = atoll(PQgetvalue(res, 0, 0));
					if (p->set == 3)
						p->runs++;
					break;
				}
			case PGRES_TUPLES_OK:
				p->set++;
				break;
			case PGRES_COMMAND_OK:
				break;
			default:
				die("%s: the query failed: %s", p->conninfo, PQresultErrorMessage(res));
		}
		PQclear(res);
	}
}

static void
advance(Project *p)
{
	if (p->state == P_CONNECTING)
	{
		p->polling = PQconnectPoll(p->conn);
		if (p->polling == PGRES_POLLING_FAILED)
			die("%s: cannot connect: %s", p->conninfo, conn_error(p));
		if (p->polling != PGRES_POLLING_OK)
			return;
		if (!p->query_after_connect)
		{
			p->state = P_DONE;
			return;
		}
		send_query(p);
	}
	if (p->flushing)
	{
		int			rc = PQflush(p->conn);

		if (rc < 0)
			die("%s: cannot send: %s", p->conninfo, conn_error(p));
		p->flushing = (rc == 1);
	}
	if (!PQconsumeInput(p->conn))
		die("%s: cannot read: %s", p->conninfo, conn_error(p));
	read_results(p);
}

/*
 * One round over every project: at most `concurrency` in flight, each moved
 * on as its socket becomes ready.  Returns the runs read.
 */
static long
run_round(Project *projects, int connect, int query, int close_after)
{
	struct pollfd *fds = calloc(concurrency, sizeof(struct pollfd));
	int		   *who = calloc(concurrency, sizeof(int));
	double		deadline = now_ms() + ROUND_TIMEOUT_MS;
	long		runs = 0;
	int			next = 0;

	if (fds == NULL || who == NULL)
		die("out of memory");
	for (int i = 0; i < nprojects; i++)
	{
		Project    *p = &projects[i];

		p->state = P_WAITING;
		p->query_after_connect = query;
		p->close_after = close_after;
		p->runs = 0;
		if (!connect && (p->conn == NULL || PQstatus(p->conn) != CONNECTION_OK))
			die("%s: no kept connection", p->conninfo);
	}
	for (;;)
	{
		int			active = 0;
		int			nfds = 0;
		int			timeout;

		for (int i = 0; i < nprojects; i++)
			if (projects[i].state == P_CONNECTING || projects[i].state == P_QUERYING)
				active++;
		while (active < concurrency && next < nprojects)
		{
			Project    *p = &projects[next++];

			if (connect)
				start_connect(p);
			else
				send_query(p);
			active++;
		}
		if (active == 0)
			break;
		for (int i = 0; i < nprojects; i++)
		{
			Project    *p = &projects[i];

			if (p->state != P_CONNECTING && p->state != P_QUERYING)
				continue;
			fds[nfds].fd = PQsocket(p->conn);
			if (p->state == P_CONNECTING)
				fds[nfds].events = p->polling == PGRES_POLLING_READING ? POLLIN : POLLOUT;
			else
				fds[nfds].events = POLLIN | (p->flushing ? POLLOUT : 0);
			fds[nfds].revents = 0;
			who[nfds++] = i;
		}
		timeout = (int) (deadline - now_ms());
		if (timeout <= 0)
			die("a round took more than %d ms", ROUND_TIMEOUT_MS);
		if (poll(fds, nfds, timeout) < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		for (int k = 0; k < nfds; k++)
			if (fds[k].revents)
				advance(&projects[who[k]]);
	}
	for (int i = 0; i < nprojects; i++)
		runs += projects[i].runs;
	free(fds);
	free(who);
	return runs;
}

int
main(int argc, char **argv)
{
	FILE	   *f;
	char		line[4096];
	int			size = 64;
	Project    *projects;

	if (argc != 3)
	{
		fprintf(stderr, "usage: %s CONNINFO_FILE CONCURRENCY\n", argv[0]);
		return 2;
	}
	concurrency = atoi(argv[2]);
	if (concurrency < 1)
		die("concurrency must be at least 1");
	f = fopen(argv[1], "r");
	if (f == NULL)
		die("%s: %s", argv[1], strerror(errno));
	projects = calloc(size, sizeof(Project));
	while (projects && fgets(line, sizeof(line), f))
	{
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0')
			continue;
		if (nprojects == size)
		{
			size *= 2;
			projects = realloc(projects, size * sizeof(Project));
		}
		if (projects)
		{
			memset(&projects[nprojects], 0, sizeof(Project));
			projects[nprojects++].conninfo = strdup(line);
		}
	}
	if (projects == NULL)
		die("out of memory");
	fclose(f);
	if (nprojects == 0)
		die("%s: no connection strings", argv[1]);
	modes[0] = projects;
	modes[1] = malloc(nprojects * sizeof(Project));
	if (modes[1] == NULL)
		die("out of memory");
	memcpy(modes[1], projects, nprojects * sizeof(Project));

	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin))
	{
		double		t0 = now_ms();
		long		runs;

		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, "fresh") == 0)
		{
			runs = run_round(modes[0], 1, 1, 1);
			printf("%.1f %ld\n", now_ms() - t0, runs);
		}
		else if (strcmp(line, "open") == 0)
		{
			run_round(modes[1], 1, 0, 0);
			printf("%.1f\n", now_ms() - t0);
		}
		else if (strcmp(line, "kept") == 0)
		{
			runs = run_round(modes[1], 0, 1, 0);
			printf("%.1f %ld\n", now_ms() - t0, runs);
		}
		else if (strcmp(line, "quit") == 0)
			break;
		else
			die("unknown command \"%s\"", line);
	}
	for (int m = 0; m < 2; m++)
		for (int i = 0; i < nprojects; i++)
			if (modes[m][i].conn)
				PQfinish(modes[m][i].conn);
	return 0;
}
