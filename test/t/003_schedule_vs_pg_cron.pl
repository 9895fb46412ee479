# (The cluster does not preload supamon: CREATE EXTENSION and the SQL
# functions must work without it.)
#
# Differential test: a few hundred generated schedules through the real
# pg_cron 1.4's cron.schedule (accepted or rejected) against supamon's
# verdict for pg_cron 1.4.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cron14');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
$node->safe_psql('postgres', 'CREATE EXTENSION supamon');
my $cron_version = $node->safe_psql('postgres',
	"SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'");
like($cron_version, qr/^1\.4/, "the real pg_cron is 1.4 ($cron_version)");

$node->safe_psql('postgres', q{
CREATE FUNCTION verdict(s text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	by_pg_cron boolean;
	by_supamon boolean;
BEGIN
	BEGIN
		PERFORM cron.schedule('difftest', s, 'SELECT 1');
		PERFORM cron.unschedule('difftest');
		by_pg_cron := true;
	EXCEPTION WHEN others THEN
		by_pg_cron := false;
	END;
	BEGIN
		PERFORM supamon_parse_schedule(s, '1.4');
		by_supamon := true;
	EXCEPTION WHEN others THEN
		by_supamon := false;
	END;
	RETURN by_pg_cron || '/' || by_supamon;
END $$;
});

# Hand-picked edges, then generated schedules (a fixed seed: reproducible).
my @schedules = (
	'* * * * *', '*/5 * * * *', '0 */2 * * *', '0 9 * * 1-5', '*/5 9-17 * * *',
	'1-30/7 * * * *', '0 0 1,15 * *', '0 0 * jan,JUL *', '0 0 * * mon-FRI',
	'0 0 * * 7', '0 0 * * 8', '60 * * * *', '* 24 * * *', '* * 0 * *',
	'* * 32 * *', '* * * 13 *', '* * * 0 *', '5/10 * * * *', '*/0 * * * *',
	'5-64/30 * * * *', '* * * *', '* * *', '', '   ', '* * * * * extra',
	'5% * * * *', '1-5-7 * * * *', '*/100 * * * *', '@hourly', '@daily',
	'@midnight', '@weekly', '@monthly', '@yearly', '@annually', '@reboot',
	'@restart', '@Daily', '@every', '@', '@daily now', '0 0 $ * *',
	'30 seconds', '1 second', '0 0 * * Monday', '* * * January *',
	'1,,2 * * * *', '1, * * * *', 'a * * * *', '*/Mon * * * *', '4294967301 * * * *',
	'99999999999999999999 * * * *', '0x5 * * * *', '-1 * * * *', '+1 * * * *',
	'5-1 * * * *', "0\t0\t*\t*\t*", '  0   0 * * *  ', '0 0 * * sun-sat',
	'*/5,10-20/3,59 * * * *', '0 0 1-31/2 * *', '0 0 L * *', '? * * * *',
	# reversed ranges: 1.4 accepts them (and selects nothing), whatever the step
	'50-3 * * * *', '0 22-2 * * *', '0 0 31-2 * *', '0 0 1 dec-feb *',
	'50-3/2 * * * *', '50-3/100 * * * *', '0 0 * * sat-mon',
);

my $seed = 20261129;
sub rnd { my ($n) = @_; $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed % $n; }
# Mostly well-formed fields, so that both verdicts are common; the odd ones
# probe the edges (out of range, names where none belong, junk, steps).
my @good = ('*', '*/S', 'N', 'N-N', 'N-N/S', 'N,N', 'N,N-N');
my @odd = ('JUNK', '$', '*/0', 'N/S', 'NAME', 'NAME-NAME', 'X', 'N-X');
my @names = ('jan', 'FEB', 'Mar', 'mon', 'TUE', 'sun', 'Sat', 'janu', 'x');
my @junk = ('%', 'x', '-', '/', '!', '.', ',');
my @low = (0, 0, 1, 1, 0);
my @high = (59, 23, 31, 12, 7);
sub field
{
	my ($i) = @_;
	my ($lo, $hi) = ($low[$i % 5], $high[$i % 5]);
	my $a = rnd(10) < 8 ? $good[rnd(scalar @good)] : $odd[rnd(scalar @odd)];
	# names belong to month and day of week
	$a = ($i % 5 == 3 ? 'jan-MAR' : 'mon-fri') if rnd(10) == 0 && $i % 5 >= 3;
	$a =~ s/NAME/$names[rnd(scalar @names)]/ge;
	$a =~ s/X/$lo - 1 + rnd(2) * ($hi - $lo + 2)/ge;
	$a =~ s/N/$lo + rnd($hi - $lo + 1)/ge;
	$a =~ s/S/1 + rnd(8)/ge;
	$a =~ s/JUNK/$lo . $junk[rnd(scalar @junk)]/ge;
	return $a;
}
while (@schedules < 400)
{
	my $n = rnd(5) == 0 ? 3 + rnd(4) : 5;    # mostly five fields
	my @f = map { field($_) } 0 .. $n - 1;
	push @schedules, join(rnd(6) == 0 ? "\t" : ' ', @f);
}

# One query for all of them.
my $values = join(",\n", map {
	(my $q = $schedules[$_]) =~ s/'/''/g; "($_, E'$q')" } 0 .. $#schedules);
my $out = $node->safe_psql('postgres',
	"SELECT i, verdict(s) FROM (VALUES $values) v(i, s) ORDER BY i");
my ($agree, $accepted, $rejected) = (0, 0, 0);
my @disagree;
for my $line (split /\n/, $out)
{
	my ($i, $v) = split /\|/, $line;
	my ($pg, $sm) = split m{/}, $v;
	if ($pg eq $sm) { $agree++; $pg eq 'true' ? $accepted++ : $rejected++; }
	else { push @disagree, "'$schedules[$i]': pg_cron $pg, supamon $sm"; }
}
is($agree + scalar @disagree, scalar @schedules, 'every schedule was judged');
is(scalar @disagree, 0, scalar(@schedules) . ' schedules: supamon agrees with pg_cron 1.4 on each')
	or diag join("\n", @disagree);
cmp_ok($accepted, '>=', 50, "accepted by both: $accepted");
cmp_ok($rejected, '>=', 50, "rejected by both: $rejected");

$node->stop;
done_testing();
