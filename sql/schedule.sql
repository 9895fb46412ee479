-- pg_cron's schedule language: parsing, next and previous fire times, time
-- zones, version differences, quirks and errors.
CREATE EXTENSION supamon;
SET timezone = 'UTC';

-- The next fires of a schedule after a given time, as pg_cron would run it.
CREATE FUNCTION fires(sched text, after timestamptz, n int, tz text DEFAULT 'GMT')
RETURNS SETOF timestamptz LANGUAGE sql AS $$
	WITH RECURSIVE f(t, i) AS (
		SELECT supamon_next_run(sched, after, tz), 1
		UNION ALL
		SELECT supamon_next_run(sched, t, tz), i + 1 FROM f WHERE i < n AND t IS NOT NULL)
	SELECT t FROM f
$$;

-- What the original plan got wrong, right: every minute, every two hours,
-- working hours only, weekdays only.  2026-11-27 is a Friday.
SELECT fires('* * * * *', '2026-11-27 12:00:30+00', 3);
SELECT fires('0 */2 * * *', '2026-11-27 21:00+00', 3);
SELECT fires('*/5 9-17 * * *', '2026-11-27 17:50+00', 3);
SELECT fires('0 9 * * 1-5', '2026-11-27 08:00+00', 3);
SELECT supamon_prev_run('*/5 9-17 * * *', '2026-11-28 03:00+00');
SELECT supamon_prev_run('0 9 * * 1-5', '2026-11-30 08:59+00');

-- Lists, ranges with steps, names, Sunday as 0 and 7.
SELECT fires('1-30/7 * * * *', '2026-11-27 12:00+00', 5);
SELECT fires('0 0 * jan,JUL *', '2026-11-27 00:00+00', 2);
SELECT fires('0 12 * * sun', '2026-11-27 00:00+00', 1) = fires('0 12 * * 7', '2026-11-27 00:00+00', 1) AS sunday_0_is_7;
SELECT fires('0 12 * * 0', '2026-11-27 00:00+00', 1);

-- Day of month OR day of week when both are restricted; AND when either
-- starts with '*' (so */2 counts as a star).
SELECT fires('0 0 1 * 1', '2026-11-27 00:00+00', 3);
SELECT fires('0 0 */2 * 1', '2026-11-27 00:00+00', 2);

-- The last day of the month ($, pg_cron 1.6), and rare dates.
SELECT fires('0 12 $ 2 *', '2026-01-01 00:00+00', 3);
SELECT fires('0 0 29 2 *', '2026-01-01 00:00+00', 2);
SELECT supamon_prev_run('0 0 29 2 *', '2026-01-01 00:00+00');

-- @ shortcuts.
SELECT s, supamon_next_run(s, '2026-11-27 12:00+00') FROM
	unnest(ARRAY['@hourly', '@daily', '@midnight', '@weekly', '@monthly']) s;

-- Interval schedules: anchored at the previous start, not at the clock.
SELECT supamon_next_run('30 seconds', '2026-11-27 12:00:10+00'),
	   supamon_prev_run('30 seconds', '2026-11-27 12:00:10+00');

-- Time zones: a working-hours job in New York, and the DST changes of
-- Europe/Berlin (2026-03-29 02:30 does not exist; 2026-10-25 02:30 happens twice).
SELECT fires('0 9 * * 1-5', '2026-11-27 00:00+00', 2, 'America/New_York');
SELECT fires('30 2 * * *', '2026-03-28 00:00+00', 2, 'Europe/Berlin');
SELECT fires('30 2 * * *', '2026-10-24 12:00+00', 3, 'Europe/Berlin');
SELECT supamon_prev_run('30 2 * * *', '2026-03-30 00:00+00', 'Europe/Berlin');
-- "$" is pg_cron's "24 hours later is the 1st": on 2024-03-30, the day
-- before a 23-hour last day, 23:00 already qualifies.
SELECT fires('0 23 $ 3 *', '2024-03-01 00:00+00', 2, 'Europe/Berlin');

-- Each pg_cron version reads the language it knows.
SELECT supamon_parse_schedule('@yearly', '1.4') ->> 'can_fire' AS yearly_14,
	   supamon_parse_schedule('@yearly', '1.6') ->> 'can_fire' AS yearly_16;
SELECT supamon_next_run('@yearly', '2026-11-27 00:00+00', 'GMT', '1.5') AS yearly_15,
	   supamon_next_run('@yearly', '2026-11-27 00:00+00', 'GMT', '1.6.4') AS yearly_16;
SELECT supamon_parse_schedule('30 seconds', '1.4');
SELECT supamon_parse_schedule('0 0 $ * *', '1.5');

-- What a schedule means, in full.
SELECT jsonb_pretty(supamon_parse_schedule('*/5 9-17 * * 1-5'));
SELECT jsonb_pretty(supamon_parse_schedule('30 seconds'));
SELECT s, supamon_parse_schedule(s) ->> 'description' AS description FROM unnest(ARRAY[
	'* * * * *', '0 */2 * * *', '0 9 * * 1-5', '15 8,20 * * *', '0 0 1,15 * *',
	'0 0 1 * mon', '0 12 $ 2 *', '0 0 * * 6,0', '@weekly', '@reboot']) s;

-- Quirks pg_cron accepts silently: supamon accepts them too, and says so.
SELECT supamon_parse_schedule('* * * * * /usr/bin/job') -> 'warnings' AS trailing;
SELECT supamon_parse_schedule('5% * * * *') -> 'warnings' AS junk;
-- Schedules that can never fire are reported as such and have no fire time.
SELECT s, p ->> 'can_fire' AS can_fire, p ->> 'never_fires_reason' AS why,
	   supamon_next_run(s, '2026-01-01') AS next
FROM unnest(ARRAY['0 0 30 2 *', '5-1 * * * *', '0 0 * * mon-sun', '@reboot']) s,
	 LATERAL supamon_parse_schedule(s) p;

-- A step larger than the field's maximum: pg_cron 1.4 to 1.6.4 take the
-- first value only, 1.6.5 and later reject the schedule; "1.6" may be either.
SELECT s, v, p -> 'warnings' ->> 0 AS warning, p -> 'minute' AS minute, p -> 'day_of_week' AS dow
FROM unnest(ARRAY['*/100 * * * *', '0 0 * * */8', '0 0 * * */7']) s,
	 unnest(ARRAY['1.5', '1.6']) v,
	 LATERAL supamon_parse_schedule(s, v) p;
SELECT supamon_next_run('*/100 * * * *', '2026-11-27 12:00+00');
-- A release named in full gets its own behaviour: 1.6.5 and later reject,
-- 1.6.0 to 1.6.4 take the first value; "1.6" and "1.6-1" may be either.
SELECT supamon_parse_schedule('*/100 * * * *', '1.6.7');
SELECT supamon_next_run('*/100 * * * *', '2026-11-27 12:00+00', 'GMT', '1.6.5');
SELECT supamon_prev_run('0 0 * * */8', '2026-11-27 12:00+00', 'GMT', '1.6.10');
SELECT v, p ->> 'pg_cron_version' AS rules, p -> 'minute' AS minute, p -> 'warnings' ->> 0 AS warning
FROM unnest(ARRAY['1.6', '1.6-1', '1.6.0', '1.6.4']) v,
	 LATERAL supamon_parse_schedule('*/100 * * * *', v) p;
SELECT supamon_next_run('*/100 * * * *', '2026-11-27 12:00+00', 'GMT', '1.6.4') AS in_164;

-- A reversed range selects nothing in pg_cron 1.4 and 1.5.  pg_cron 1.6 sets
-- a range without a step by bytes of 8 values counted from the field's lowest
-- value: from the start to the end of its byte, and from the start of the
-- end's byte to the end ("50-3": 50-55 and 0-3; "22-2": 22-23 and 0-2);
-- nothing when both ends share a byte, or with a step.
SELECT fires('50-3 * * * *', '2026-11-30 09:49+00', 11);
SELECT fires('0 22-2 * * *', '2026-11-30 12:00+00', 6);
SELECT fires('0 0 1 dec-feb *', '2026-11-30 00:00+00', 4);
SELECT s, p -> 'minute' AS minute, p -> 'hour' AS hour, p -> 'day_of_month' AS dom,
	   p -> 'month' AS month, p -> 'day_of_week' AS dow, p ->> 'can_fire' AS can_fire
FROM unnest(ARRAY['50-3 * * * *', '10,50-3,30 0 * * *', '0 22-2 * * *', '0 10-9 * * *',
				  '0 0 31-2 * *', '0 0 20-5 * *', '0 0 1 12-2 *', '0 0 1 9-8 *',
				  '0 0 1 8-7 *', '0 0 * * sat-mon', '50-3/2 * * * *', '50-3/1 * * * *']) s,
	 LATERAL supamon_parse_schedule(s, '1.6.7') p;
SELECT s, v, p ->> 'can_fire' AS can_fire, p -> 'warnings' AS warnings,
	   supamon_next_run(s, '2026-11-30 09:49+00', 'GMT', v) AS next
FROM unnest(ARRAY['50-3 * * * *', '5-1 * * * *', '50-3/100 * * * *']) s,
	 unnest(ARRAY['1.4', '1.5', '1.6', '1.6.4']) v,
	 LATERAL supamon_parse_schedule(s, v) p;
SELECT supamon_parse_schedule('50-3/100 * * * *', '1.6.7');

-- Quoted input keeps its characters, and any byte keeps the JSON valid.
SELECT supamon_parse_schedule('5é * * * *') -> 'warnings' AS junk_utf8,
	   supamon_parse_schedule('* * * * * ☕ job') -> 'warnings' AS trailing_utf8;
SELECT supamon_parse_schedule('5' || chr(1) || '"\ * * * *') -> 'warnings' AS junk_bytes;
SELECT supamon_parse_schedule('@dailé');

-- NULL in, NULL out; NULL zone and version mean GMT and the newest pg_cron.
SELECT supamon_parse_schedule(NULL), supamon_next_run(NULL, now()), supamon_next_run('* * * * *', NULL);
SELECT supamon_next_run('0 0 * * *', '2026-11-27 12:00+00', NULL, NULL);

-- Errors name the bad value.
SELECT supamon_parse_schedule('61 * * * *');
SELECT supamon_parse_schedule('* * * *');
SELECT supamon_parse_schedule('0 0 * * Funday');
SELECT supamon_parse_schedule('5/10 * * * *');
SELECT supamon_parse_schedule('90 seconds');
SELECT supamon_parse_schedule('@every_5m');
SELECT supamon_parse_schedule(repeat('1,', 600) || '1 * * * *');
SELECT supamon_next_run('0 0 $ * *', now(), 'GMT', '1.4');
SELECT supamon_next_run('* * * * *', now(), 'Mars/Olympus_Mons');
SELECT supamon_next_run('* * * * *', now(), 'GMT', 'latest');
SELECT supamon_next_run('* * * * *', 'infinity');

-- pg_cron versions supamon knows, as extversion or release; others are errors.
SELECT v, supamon_parse_schedule('* * * * *', v) ->> 'pg_cron_version' AS rules
FROM unnest(ARRAY['1.0', '1.3', '1.4', '1.4-1', '1.5', '1.6', '1.6-1', '1.6.4', '1.6.5', '1.6.7']) v;
SELECT supamon_parse_schedule('* * * * *', '99.99');
SELECT supamon_parse_schedule('* * * * *', '1.7');
SELECT supamon_next_run('* * * * *', now(), 'GMT', '2.0');

-- The ends of PostgreSQL's clock: a fire time beyond them is none (NULL);
-- an infinite 'after' or 'at' is an error for every kind of schedule.
SELECT supamon_next_run('0 0 1 1 *', '294276-06-01+00') AS past_the_end,
	   supamon_next_run('0 0 1 12 *', '294276-06-01+00') AS before_the_end,
	   supamon_prev_run('0 0 1 1 *', '4714-11-24 00:00+00 BC') AS before_the_start,
	   supamon_prev_run('* * * * *', '4714-11-24 00:00:30+00 BC') AS at_the_start;
SELECT supamon_next_run('30 seconds', '294276-12-31 23:59:50+00') AS interval_past_the_end,
	   supamon_next_run('30 seconds', '294276-12-31 23:59:00+00') AS interval_before_the_end;
SELECT supamon_next_run('30 seconds', 'infinity');
SELECT supamon_next_run('30 seconds', '-infinity');
SELECT supamon_prev_run('30 seconds', 'infinity');
SELECT supamon_next_run('@reboot', 'infinity');
SELECT supamon_prev_run('0 0 30 2 *', '-infinity');

DROP FUNCTION fires(text, timestamptz, int, text);
DROP EXTENSION supamon;
