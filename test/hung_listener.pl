#!/usr/bin/perl
# A TCP server that accepts connections and never answers: a "hung" project.
# Usage: hung_listener.pl PORTFILE [SECONDS]
# Listens on 127.0.0.1 on a free port, writes the port to PORTFILE, holds
# every connection open without reading or writing, exits after SECONDS
# (default 600).
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;

my ($portfile, $seconds) = @ARGV;
$seconds //= 600;
my $server = IO::Socket::INET->new(
	LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 128, ReuseAddr => 1)
  or die "listen: $!";
open my $fh, '>', "$portfile.tmp" or die $!;
print $fh $server->sockport, "\n";
close $fh;
rename "$portfile.tmp", $portfile or die $!;

my @held;
my $sel = IO::Select->new($server);
my $end = time + $seconds;
while (time < $end)
{
	for my $s ($sel->can_read(1))
	{
		my $c = $server->accept;
		push @held, $c if $c;
	}
}
