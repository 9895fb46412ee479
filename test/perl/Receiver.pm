# test/receiver.py from a TAP test: a local Discord/Telegram/webhook
# receiver and fake Supabase Management API on 127.0.0.1, so that no test
# reaches the internet.
#
#	my $r = Receiver->start(discord_limit => '5/2');
#	... point supamon at $r->url('/api/webhooks/1/tok') ...
#	$r->control('/webhooks/1/', [{ status => 500 }, { hang => 30 }]);
#	$r->wait_for(sub { grep { $_->{status} == 500 } @_ }, 30) or fail(...);
#	my @sent = $r->requests(kind => 'discord');
#	$r->stop;	# also done when $r goes out of scope
#
# The Management API (GET /v1/projects/<ref>, .../functions,
# .../analytics/endpoints/functions.combined-stats; see receiver.py's
# docstring for the shapes), with supamon's base URL set to $r->api_url:
#
#	$r->api_state({ token => 'sbp_test', projects => { abc => {
#		status => 'ACTIVE_HEALTHY',
#		functions => [{ slug => 'hello', version => 3 }],
#		stats => { hello => { requests => 100, server_errors => 30,
#				client_errors => 2 } } } } });
#	$r->api_patch({ projects => { abc => { status => 'INACTIVE' } } });
#	$r->control('/functions', [{ status => 500 }]);
#	my @calls = $r->requests(kind => 'management_api', path => '/functions');
#	# each with {auth => bool, auth_ok => bool, status => n, path => with query}
#
# start() options: dir (where the port, record and log files go), port,
# print (bool), discord_limit, telegram_limit and api_limit ('N/SECONDS';
# api_limit is per project ref, like Supabase's '120/60'), max_seconds,
# python (default 'python3').
package Receiver;

use strict;
use warnings;
use Carp;
use File::Basename qw(dirname);
use File::Spec;
use File::Temp ();
use HTTP::Tiny;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(time sleep);

# test/perl/Receiver.pm -> test/receiver.py, wherever the tests run from.
my $script = File::Spec->rel2abs(File::Spec->catfile(dirname(__FILE__), '..', 'receiver.py'));

sub start
{
	my ($class, %opts) = @_;
	my $dir = File::Spec->rel2abs($opts{dir} // _tempdir());
	my $self = bless {
		dir => $dir,
		portfile => "$dir/receiver.port",
		record => "$dir/receiver.jsonl",
		log => "$dir/receiver.log",
		owner => $$,
	}, $class;
	unlink $self->{portfile};    # a stale port from an earlier run is no answer

	my @cmd = ($opts{python} // 'python3', $script,
		'--portfile' => $self->{portfile}, '--record' => $self->{record});
	push @cmd, '--port' => $opts{port} if $opts{port};
	push @cmd, '--print' if $opts{print};
	push @cmd, '--discord-limit' => $opts{discord_limit} if $opts{discord_limit};
	push @cmd, '--telegram-limit' => $opts{telegram_limit} if $opts{telegram_limit};
	push @cmd, '--api-limit' => $opts{api_limit} if $opts{api_limit};
	push @cmd, '--max-seconds' => $opts{max_seconds} if $opts{max_seconds};
	$self->{harness} = IPC::Run::start(\@cmd, '<', File::Spec->devnull, '>', $self->{log}, '2>', "$self->{log}.err");

	# The port file appears (renamed into place, whole) once it listens.  No
	# pipes to the child (files only), so pumpable() notices an early exit.
	my $deadline = time + 10;
	until (-s $self->{portfile})
	{
		if (!$self->{harness}->pumpable || time > $deadline)
		{
			$self->stop;
			croak "receiver did not start: " . _slurp("$self->{log}.err");
		}
		sleep 0.05;
	}
	($self->{port}) = _slurp($self->{portfile}) =~ /(\d+)/;
	# No proxy, whatever the environment says: the receiver is local.
	$self->{http} = HTTP::Tiny->new(timeout => 10, proxy => undef,
		http_proxy => undef, https_proxy => undef);
	return $self;
}

sub port { $_[0]{port} }
sub record_file { $_[0]{record} }
sub log_file { $_[0]{log} }

# http://127.0.0.1:PORT/path
sub url
{
	my ($self, $path) = @_;
	$path //= '/';
	$path = "/$path" unless $path =~ m{^/};
	return "http://127.0.0.1:$self->{port}$path";
}

# http://127.0.0.1:PORT, no trailing slash: the Management API base URL
# (the API's paths start with /v1/).
sub api_url { "http://127.0.0.1:$_[0]{port}" }

sub _post
{
	my ($self, $path, $body) = @_;
	my $res = $self->{http}->post($self->url($path), {
		headers => { 'Content-Type' => 'application/json' },
		content => encode_json($body // {}) });
	croak "receiver $path: $res->{status} $res->{content}" unless $res->{success};
	return decode_json($res->{content});
}

# Queue behaviours for requests whose path contains $match (one each, in
# order; then normal answers, or the last one forever with $repeat_last).
sub control
{
	my ($self, $match, $behaviours, $repeat_last) = @_;
	return $self->_post('/_control', { match => $match, behaviours => $behaviours,
		repeat_last => $repeat_last ? JSON::PP::true : JSON::PP::false });
}

# Forget behaviours and rate-limit windows; the record and the Management
# API state stay.
sub reset { $_[0]->_post('/_reset') }

# Replace the whole fake Management API state: { token => 'sbp_...',
# projects => { <ref> => { status, forbidden, functions => [...],
# stats => { <slug> => { requests, server_errors, client_errors } } } } }.
# Booleans (forbidden, verify_jwt) may be JSON::PP::true/false or 1/0.
sub api_state
{
	my ($self, $state) = @_;
	return $self->_post('/_api', $state);
}

# Merge into it: token (if given) replaces the token, each project given
# replaces that project's entry (undef removes it), the others stay.
sub api_patch
{
	my ($self, $state) = @_;
	return $self->_post('/_api_patch', $state);
}

# {total => n, by_kind => {discord => {204 => n, ...}, ...}}
sub stats
{
	my ($self) = @_;
	my $res = $self->{http}->get($self->url('/_stats'));
	croak "receiver /_stats: $res->{status}" unless $res->{success};
	return decode_json($res->{content});
}

# The recorded requests in arrival order, as hashrefs; filters: kind
# (discord, telegram, webhook, management_api), path (substring; for
# management_api the path includes the query string), method.
sub requests
{
	my ($self, %filter) = @_;
	open my $fh, '<', $self->{record} or return ();
	my @all;
	while (my $line = <$fh>)
	{
		last unless $line =~ /\n\z/;    # a line still being written
		push @all, decode_json($line);
	}
	close $fh;
	@all = grep { $_->{kind} eq $filter{kind} } @all if defined $filter{kind};
	@all = grep { index($_->{path}, $filter{path}) >= 0 } @all if defined $filter{path};
	@all = grep { $_->{method} eq $filter{method} } @all if defined $filter{method};
	return sort { $a->{seq} <=> $b->{seq} } @all;
}

# Poll the record until $pred->(@requests) is true; returns its value, or
# undef after $timeout seconds (default: PostgreSQL's test timeout).
sub wait_for
{
	my ($self, $pred, $timeout) = @_;
	$timeout //= $PostgreSQL::Test::Utils::timeout_default // 180;
	my $deadline = time + $timeout;
	while (1)
	{
		my $got = $pred->($self->requests);
		return $got if $got;
		return undef if time > $deadline;
		sleep 0.1;
	}
}

# SIGTERM, then SIGKILL if it has not gone within 5 s.
sub stop
{
	my ($self) = @_;
	my $h = delete $self->{harness} or return;
	$h->kill_kill(grace => 5);
	return;
}

sub DESTROY
{
	my ($self) = @_;
	local ($@, $!, $?);
	# Not in a forked child: the receiver belongs to the process that started it.
	eval { $self->stop } if $self->{owner} == $$;
}

sub _tempdir
{
	return PostgreSQL::Test::Utils::tempdir('receiver')
	  if defined &PostgreSQL::Test::Utils::tempdir
	  && defined $PostgreSQL::Test::Utils::tmp_check;
	return File::Temp::tempdir('receiverXXXXXX', TMPDIR => 1, CLEANUP => 1);
}

sub _slurp
{
	my ($file) = @_;
	open my $fh, '<', $file or return '';
	local $/;
	return scalar <$fh>;
}

1;
