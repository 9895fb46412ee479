# Alerts reach people: the worker delivers the outbox to a local stand-in
# for Discord, Telegram and a generic webhook (test/receiver.py, which
# enforces Discord's 5 requests per 2 s and Telegram's one message a second
# per chat), and the messages are checked as the services would read them.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use JSON::PP;
use Digest::SHA qw(hmac_sha256_hex);
use lib 'test/perl';
use SupamonTest;
use Receiver;

my $r = Receiver->start(discord_limit => '5/2', telegram_limit => '1/1');

# Secrets that must never reach the server log.
my $setting_discord = '/api/webhooks/100/setting-discord-secret';
my $setting_bot = '100:setting-telegram-secret-aaaaaaaaaa';
my $table_discord = '/api/webhooks/200/table-discord-secret';
my $table_bot = '300:table-telegram-secret-bbbbbbbbbbbb';
my $signing = 'signing-secret-0123456789';

my $node = PostgreSQL::Test::Cluster->new('central');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'supamon,pg_cron'
cron.database_name = 'postgres'
log_min_messages = debug1
restart_after_crash = on
# the tests' own statements hold secrets; supamon's messages must not
log_statement = none
supamon.telegram_api_url = '@{[$r->url('')]}'
supamon.discord_webhook_url = '@{[$r->url($setting_discord)]}'
supamon.telegram_bot_token = '$setting_bot'
supamon.telegram_chat_id = '-100111'
supamon.retry_backoff = 1
supamon.max_attempts = 3
supamon.http_timeout = 3000
});
$node->start;

# The project is this database, pg_cron's tables written by hand (pg_cron's
# launcher runs here, so its scheduler is up; nothing really runs).
$node->safe_psql('postgres', cron_tables_sql() . q{
CREATE EXTENSION supamon;
CREATE FUNCTION add_job(name text) RETURNS void LANGUAGE sql AS $$
	INSERT INTO cron.job (schedule, command, jobname) VALUES ('0 3 * * *', 'SELECT 1', name) $$;
CREATE FUNCTION run(name text, status text, msg text) RETURNS void LANGUAGE sql AS $$
	INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
	SELECT jobid, status, msg, now() - interval '5 seconds', now() - interval '4 seconds'
	FROM cron.job WHERE jobname = name $$;
SELECT supamon_add_project('local');
SELECT add_job('crit-job'), add_job('imp-job'), add_job('low-job');
});
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'"),
	'pg_cron launcher up');
$node->safe_psql('postgres', q{
SELECT supamon_check_health();
UPDATE supamon.job_inventory SET criticality = 'critical' WHERE job_name = 'crit-job';
UPDATE supamon.job_inventory SET criticality = 'low' WHERE job_name = 'low-job';
});

sub check { return $node->safe_psql('postgres', 'SELECT supamon_check_health()'); }

sub utf16_len { my $s = shift; my $n = 0; $n += ord($_) > 0xFFFF ? 2 : 1 for split //, $s; return $n; }

sub since { my ($seq) = @_; return grep { $_->{seq} > $seq } @_[1 .. $#_]; }

sub last_seq { my @all = $r->requests; return @all ? $all[-1]{seq} : 0; }

sub wait_rows
{
	my ($where, $what) = @_;
	ok($node->poll_query_until('postgres', "SELECT $where FROM supamon.alert_outbox"), $what)
	  or diag($node->safe_psql('postgres',
		'SELECT id, channel_name, state, attempts, last_http_status, last_error FROM supamon.alerts ORDER BY id'));
}

# Queues alerts by hand for a channel of the table and wakes the worker
# (a reload sets its latch): $job is an SQL expression over g, 1..$n.
sub queue
{
	my ($channel, $job, %o) = @_;
	my $n = $o{n} // 1;
	my $event = $o{event} // "'failed'";
	my $criticality = $o{criticality} // 'critical';
	$node->safe_psql('postgres', qq{
INSERT INTO supamon.alert_outbox (channel_id, channel, project_name, job_name, event, criticality, message)
SELECT c.id, c.channel, 'local', $job, $event, '$criticality', 'local/' || $job || ' failed'
FROM supamon.alert_config c, generate_series(1, $n) g WHERE c.name = '$channel';
SELECT pg_reload_conf();
});
}

# ---------------------------------------------------------------------------
# 1. The settings' channels: Discord gets every alert, Telegram the critical
# ones; hostile error texts are escaped, defused and cut.
my $huge = 'ERROR:  ' . ('x' x 1_000_000) . ' @here';
$node->safe_psql('postgres', qq{
SELECT run('crit-job', 'failed', E'ERROR:  relation "<script>alert(1)</script>" & co does not exist\\nLINE 1: SELECT * FROM "<script>"\\nCONTEXT:  SQL statement \@everyone');
SELECT run('imp-job', 'failed', '$huge');
SELECT run('low-job', 'failed', E'ERROR:  ``` breaks out? \\U0001F525\\U0001F525 <b>bold</b>');
});
my $seq0 = last_seq();
check();
my $t_committed = time;
my @got = @{ $r->wait_for(sub {
	my @d = grep { $_->{kind} eq 'discord' } since($seq0, @_);
	my @t = grep { $_->{kind} eq 'telegram' } since($seq0, @_);
	return @d >= 3 && @t >= 1 ? [@d, @t] : undef;
}, 30) // [] };
my @discord = grep { $_->{kind} eq 'discord' } @got;
my @telegram = grep { $_->{kind} eq 'telegram' } @got;
is(scalar @discord, 3, 'setting Discord channel: every alert');
is(scalar @telegram, 1, 'setting Telegram channel: the critical alert only');
my ($first) = sort { $a->{t} <=> $b->{t} } @got;
ok($first && $first->{t} - $t_committed < 1.0,
	sprintf('the worker is woken at commit: first alert %.0f ms after the check', 1000 * (($first->{t} // 0) - $t_committed)));

for my $m (@discord)
{
	my $j = $m->{json};
	is_deeply($j->{allowed_mentions}, { parse => [] }, 'Discord: allowed_mentions pings no one');
	my $e = $j->{embeds}[0];
	like($e->{title}, qr/failed: local \/ (crit|imp|low)-job/, "Discord embed title: $e->{title}");
	is($e->{color}, 0xE74C3C, 'Discord: failed is red');
	my $total = utf16_len($e->{title}) + utf16_len($e->{description} // '');
	for my $f (@{ $e->{fields} })
	{
		ok(utf16_len($f->{value}) <= 1024, "field $f->{name} within 1024");
		$total += utf16_len($f->{name}) + utf16_len($f->{value});
	}
	ok($total <= 6000, "Discord embed within 6000 ($total)");
	ok(!grep({ $_->{kind} eq 'discord' && $_->{status} == 429 } $r->requests), 'no 429 from Discord');
}
my ($imp) = grep { $_->{json}{embeds}[0]{title} =~ /imp-job/ } @discord;
like(encode_json($imp->{json}), qr/\[cut\]/, 'the 1 MB error is cut, and says so');
my ($low) = grep { $_->{json}{embeds}[0]{title} =~ /low-job/ } @discord;
my ($err_field) = grep { $_->{name} =~ /error/i } @{ $low->{json}{embeds}[0]{fields} };
my ($block) = $err_field->{value} =~ /^```[^\n]*\n(.*)\n```\s*\z/ms;
ok(defined $block && $block =~ /breaks out/ && $block !~ /```/, 'a ``` inside an error cannot close its code block');

my $tj = $telegram[0]{json};
is($tj->{parse_mode}, 'HTML', 'Telegram: HTML parse mode');
is($tj->{chat_id}, '-100111', 'Telegram: the setting chat');
ok($tj->{link_preview_options}{is_disabled}, 'Telegram: no link previews');
like($tj->{text}, qr/"&lt;script&gt;alert\(1\)&lt;\/script&gt;" &amp; co/, 'Telegram: < > & escaped');
unlike($tj->{text}, qr/<script>/, 'Telegram: no raw tag from the error');
ok(utf16_len($tj->{text}) <= 4096, 'Telegram: within 4096');

wait_rows("bool_and(state = 'sent' AND delivered_with = 1 AND attempts = 1)", 'all four rows sent');

# ---------------------------------------------------------------------------
# 2. Channels of the table: routing by criticality, a table Discord channel
# replaces the setting's, a signed generic webhook, the test alert.
$node->safe_psql('postgres', qq{
SELECT supamon_add_channel('ops', 'discord', '@{[$r->url($table_discord)]}', criticality => 'critical');
SELECT supamon_add_channel('hook', 'webhook', '@{[$r->url('/hook/1')]}', criticality => 'important',
	signing_secret => '$signing');
});
my $seq1 = last_seq();
my $test = decode_json($node->safe_psql('postgres', "SELECT supamon_send_test_alert('hook')"));
ok($test->{ok} && $test->{http_status} == 200, 'test alert: sent, HTTP 200');
my ($signed) = grep { $_->{path} eq '/hook/1' } since($seq1, $r->requests);
my $ts = $signed->{headers}{'x-supamon-timestamp'} // '';
is($signed->{headers}{'x-supamon-signature'}, 'sha256=' . hmac_sha256_hex("$ts.$signed->{body}", $signing),
	'webhook body signed with HMAC-SHA256 over timestamp.body');
ok(abs($ts - time) < 60, 'signature timestamp is now');

$node->safe_psql('postgres', q{
SELECT run('crit-job', 'succeeded', '1 row'), run('imp-job', 'succeeded', '1 row'), run('low-job', 'succeeded', '1 row');
});
my $seq2 = last_seq();
check();
wait_rows("count(*) FILTER (WHERE event = 'recovered' AND state = 'sent') = 4", 'recoveries sent');
my @after = since($seq2, $r->requests);
is(scalar(grep { $_->{path} =~ m{/webhooks/200/} } @after), 1, 'table Discord (critical): crit-job only');
is(scalar(grep { $_->{path} =~ m{/webhooks/100/} } @after), 0, 'setting Discord unused once the table has one');
is(scalar(grep { $_->{path} eq '/hook/1' } @after), 2, 'webhook (important): crit-job and imp-job');
is(scalar(grep { $_->{kind} eq 'telegram' } @after), 1, 'setting Telegram still gets the critical one');
my ($hook) = grep { $_->{path} eq '/hook/1' && $_->{json}{job} eq 'imp-job' } @after;
is_deeply([ @{ $hook->{json} }{qw(event project job status previous criticality)} ],
	[ 'recovered', 'local', 'imp-job', 'success', 'failed', 'important' ], 'webhook JSON: every field');
my ($green) = grep { $_->{path} =~ m{/webhooks/200/} } @after;
is($green->{json}{embeds}[0]{color}, 0x2ECC71, 'Discord: recovered is green');

# ---------------------------------------------------------------------------
# 3. A 429 is waited out as Discord asks (retry_after 1.5 s), not counted.
$r->control('/webhooks/200/', [ { status => 429, retry_after => 1.5 } ]);
$node->safe_psql('postgres', q{SELECT run('crit-job', 'failed', 'ERROR:  again')});
my $seq3 = last_seq();
check();
wait_rows("count(*) FILTER (WHERE channel_id = (SELECT id FROM supamon.alert_config WHERE name = 'ops')"
	. " AND event = 'failed' AND state = 'sent') = 1",
	'the rate-limited alert is sent after its wait');
my @ops = grep { $_->{path} =~ m{/webhooks/200/} } since($seq3, $r->requests);
is(scalar @ops, 2, 'one 429, one retry');
my $gap = @ops == 2 ? $ops[1]{t} - $ops[0]{t} : 0;
ok($gap >= 1.5 && $gap < 5, sprintf('retry_after honoured: %.2f s', $gap));
is($node->safe_psql('postgres',
	"SELECT attempts FROM supamon.alert_outbox WHERE channel = 'discord' AND state = 'sent' ORDER BY id DESC LIMIT 1"),
	'1', 'a 429 is not an attempt');

# ---------------------------------------------------------------------------
# 4. 30 alerts at once, no digest: Discord's 5 per 2 s is never exceeded.
$node->safe_psql('postgres', q{
ALTER SYSTEM SET supamon.digest_after = 0;
SELECT pg_reload_conf();
});
my $seq4 = last_seq();
queue('ops', "'burst-' || g", n => 30);
my $t4 = time;
wait_rows("count(*) FILTER (WHERE job_name LIKE 'burst-%' AND state = 'sent') = 30", '30 alerts sent one by one');
my @burst = grep { $_->{path} =~ m{/webhooks/200/} } since($seq4, $r->requests);
is(scalar(grep { $_->{status} == 429 } @burst), 0, 'no 429 at all under Discord\'s limit');
is(scalar @burst, 30, '30 requests');
note(sprintf('30 alerts at 5 per 2 s: %.1f s', time - $t4));
my @order = map { $_->{json}{embeds}[0]{title} =~ /burst-(\d+)/ ? $1 : 0 } @burst;
is_deeply(\@order, [ 1 .. 30 ], 'in the order they were queued');

# ---------------------------------------------------------------------------
# 5. Many pending for one channel: one digest message, worst first.
$node->safe_psql('postgres', q{
ALTER SYSTEM RESET supamon.digest_after;
SELECT pg_reload_conf();
});
sleep 0.5;
my $seq5 = last_seq();
queue('ops', "'outage-' || g", n => 12, event => "CASE WHEN g % 4 = 0 THEN 'failed' ELSE 'recovered' END");
wait_rows("count(*) FILTER (WHERE job_name LIKE 'outage-%' AND state = 'sent') = 12", 'the 12 alerts sent');
my @digest = grep { $_->{path} =~ m{/webhooks/200/} } since($seq5, $r->requests);
is(scalar @digest, 1, 'as one digest message');
my $dj = $digest[0]{json};
ok(@{ $dj->{embeds} } <= 10, 'at most 10 embeds');
like($dj->{content}, qr/12 alerts/, 'the digest says how many');
like($dj->{embeds}[0]{title}, qr/failed/, 'worst first');
is($node->safe_psql('postgres', q{
SELECT count(DISTINCT delivery_id) || '/' || min(delivered_with) FROM supamon.alert_outbox WHERE job_name LIKE 'outage-%'}),
	'1/12', 'every row records the message that carried it');

# ---------------------------------------------------------------------------
# 6. 5xx: backoff with jitter, then dead; a Discord 404: dead at once.
$r->control('/hook/1', [ { status => 500 } ], 1);
my $seq6 = last_seq();
queue('hook', "'five-hundred'", criticality => 'important');
wait_rows("bool_or(job_name = 'five-hundred' AND state = 'dead')", '500 three times: dead');
my @tries = grep { $_->{path} eq '/hook/1' } since($seq6, $r->requests);
is(scalar @tries, 3, 'supamon.max_attempts = 3 attempts');
if (@tries == 3)
{
	my ($g1, $g2) = ($tries[1]{t} - $tries[0]{t}, $tries[2]{t} - $tries[1]{t});
	ok($g1 >= 0.5 && $g1 < 1.5 && $g2 >= 1.0 && $g2 < 2.5 && $g2 > $g1,
		sprintf('exponential backoff with jitter: %.2f s, then %.2f s', $g1, $g2));
}
is($node->safe_psql('postgres', "SELECT attempts || ' ' || last_http_status FROM supamon.alert_outbox WHERE job_name = 'five-hundred'"),
	'3 500', 'dead letter keeps its attempts and status');
$r->reset;
$r->control('/webhooks/200/', [ { status => 404 } ]);
queue('ops', "'deleted-webhook'");
wait_rows("bool_or(job_name = 'deleted-webhook' AND state = 'dead')", 'Discord 404: dead');
like($node->safe_psql('postgres', "SELECT attempts || ' ' || last_error FROM supamon.alerts WHERE job = 'deleted-webhook'"),
	qr/^1 HTTP 404/, 'after one attempt, saying why');

# ---------------------------------------------------------------------------
# 7. Telegram's migrate_to_chat_id: the channel follows and the message is resent.
$node->safe_psql('postgres', qq{
SELECT supamon_add_channel('tg', 'telegram', bot_token => '$table_bot', chat_id => '-200', criticality => 'critical');
});
$r->control("/bot$table_bot/", [ { migrate_to_chat_id => -1001234567890 } ]);
my $seq7 = last_seq();
queue('tg', "'migrating'");
wait_rows("bool_or(job_name = 'migrating' AND state = 'sent')", 'migrated chat: sent');
my @mig = grep { $_->{path} =~ /^\/bot300:/ } since($seq7, $r->requests);
is_deeply([ map { $_->{json}{chat_id} } @mig ], [ '-200', '-1001234567890' ], 'resent to the new chat');
is($node->safe_psql('postgres', "SELECT chat_id FROM supamon.alert_config WHERE name = 'tg'"),
	'-1001234567890', 'the channel now names the new chat');

# Two channels naming the same bot and chat share its one message a second.
$node->safe_psql('postgres', qq{
SELECT supamon_add_channel('tg-twin', 'telegram', bot_token => '$table_bot', chat_id => '-1001234567890');
});
my $seq7b = last_seq();
queue('tg', "'twin-a'");
queue('tg-twin', "'twin-b'");
wait_rows("count(*) FILTER (WHERE job_name IN ('twin-a', 'twin-b') AND state = 'sent') = 2", 'both twins sent');
my @twins = grep { $_->{path} =~ /^\/bot300:/ } since($seq7b, $r->requests);
is(scalar(grep { $_->{status} == 429 } @twins), 0, 'twin channels of one chat: no 429');
ok(@twins == 2 && $twins[1]{t} - $twins[0]{t} >= 1.0,
	sprintf('and one message a second between them: %.2f s', @twins == 2 ? $twins[1]{t} - $twins[0]{t} : 0));

# ---------------------------------------------------------------------------
# 8. At least once: an immediate restart and a SIGKILLed worker mid-send lose
# nothing (duplicates are counted and reported).
sub queue_slow_batch
{
	my ($tag, $n) = @_;
	$r->control('/hook/1', [ { delay => 1.5 } ], 1);
	queue('hook', "'$tag-' || g", n => $n, criticality => 'important');
	ok($r->wait_for(sub { grep { ($_->{json}{job} // '') =~ /^$tag-/ } @_ }, 30), "$tag: a send in flight");
}

sub all_delivered
{
	my ($tag, $n) = @_;
	$r->reset;
	wait_rows("count(*) FILTER (WHERE job_name LIKE '$tag-%' AND state = 'sent') = $n", "$tag: all $n sent in the end");
	my %seen;
	$seen{ $_->{json}{job} }++ for grep { $_->{status} && $_->{status} == 200 && ($_->{json}{job} // '') =~ /^$tag-/ } $r->requests;
	is(scalar keys %seen, $n, "$tag: every alert arrived");
	my $dups = 0;
	$dups += $_ - 1 for values %seen;
	note("$tag: $dups duplicate(s) delivered (at least once)");
}

queue_slow_batch('restart', 20);
$node->stop('immediate');
$node->start;
all_delivered('restart', 20);

queue_slow_batch('sigkill', 20);
my $pid = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'supamon worker'");
kill 'KILL', $pid;
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'supamon worker' AND pid <> $pid"),
	'worker back after SIGKILL');
all_delivered('sigkill', 20);

# ---------------------------------------------------------------------------
# 9a. While a request hangs: a reload and a new alert for another channel are
# seen at once, supamon.http_timeout ends the hang (a retry), and a fast
# shutdown does not wait for it.
$r->reset;
$r->control('/hook/1', [ { hang => 20 } ]);
queue('hook', "'hanging'", criticality => 'important');
ok($r->wait_for(sub { grep { ($_->{json}{job} // '') eq 'hanging' } @_ }, 30), 'a request hangs');
queue('ops', "'meanwhile'");
my $t9 = time;
my $meanwhile = $r->wait_for(sub {
	my ($m) = grep { ($_->{json}{embeds}[0]{title} // '') =~ /meanwhile/ } @_;
	return $m; }, 30);
ok($meanwhile && $meanwhile->{t} - $t9 < 1.0,
	sprintf('another alert leaves while one hangs: %.0f ms', 1000 * (($meanwhile ? $meanwhile->{t} : 0) - $t9)));
wait_rows("bool_or(job_name = 'hanging' AND state = 'sent' AND attempts = 2)", 'the hung request timed out and was retried');
is($node->safe_psql('postgres', "SELECT coalesce(last_error, 'none') || ' ' || last_http_status FROM supamon.alerts WHERE job = 'hanging'"),
	'none 200', 'sent at last: its error cleared');
$r->control('/hook/1', [ { hang => 20 } ]);
queue('hook', "'hanging-at-stop'", criticality => 'important');
ok($r->wait_for(sub { grep { ($_->{json}{job} // '') eq 'hanging-at-stop' } @_ }, 30), 'a request hangs again');
my $t_stop = time;
$node->stop('fast');
my $stop_s = time - $t_stop;
ok($stop_s < 3, sprintf('a fast shutdown with a request in flight: %.2f s', $stop_s));
$r->reset;
$node->start;
wait_rows("bool_or(job_name = 'hanging-at-stop' AND state = 'sent')", 'the interrupted alert is sent after the restart');

# ---------------------------------------------------------------------------
# 9. Where no worker delivers (another database than supamon.database), the
# check delivers what it queued itself, and says so.
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('other', cron_tables_sql() . qq{
CREATE EXTENSION supamon;
SELECT supamon_add_channel('hook2', 'webhook', '@{[$r->url('/hook/2')]}');
SELECT supamon_add_project('here');
});
my ($ret, $stdout, $stderr) = $node->psql('other', 'SELECT supamon_check_health()');
like($stderr, qr/NOTICE:  supamon: delivered alerts itself: 2 sent in 2 message\(s\), 0 to retry, 0 dead/,
	'the check delivered itself (its webhook and the setting Discord channel), in a NOTICE');
ok(grep({ $_->{path} eq '/hook/2' && $_->{json}{event} eq 'scheduler_down' } $r->requests),
	'the receiver has it before the check returned');

# ---------------------------------------------------------------------------
# 10. No secret in the server log (debug1), after every kind of failure.
my $log = slurp_file($node->logfile);
for my $secret ('setting-discord-secret', 'table-discord-secret', 'setting-telegram-secret',
	'table-telegram-secret', $signing)
{
	unlike($log, qr/\Q$secret\E/, "no '$secret' in the server log");
}

$r->stop;
done_testing();
