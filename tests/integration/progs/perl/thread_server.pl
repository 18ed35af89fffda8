# A server that hands each connection to an ithread (an interpreter of its
# own); the thread's reader returns at end-of-stream without closing, and
# the connection stays open until the threads are joined. argv: how many
# connections, and a file: each thread holds its connection until it exists
# (the test's go-ahead; at most 30 s).
use strict;
use warnings;
use threads;
use IO::Socket::INET;
use Time::HiRes qw(sleep);

sub read_all {
    my ($conn) = @_;
    my $seen = 0;
    while (1) {
        my $got = sysread($conn, my $chunk, 4096);    # EOF-SITE
        die "sysread: $!\n" unless defined $got;
        return $seen unless $got;                     # end-of-stream: no close
        $seen += $got;
    }
}

sub worker {
    my ($conn, $go) = @_;
    my $seen = read_all($conn);
    for (1 .. 300) {
        last if -e $go;
        sleep 0.1;
    }
    return $seen;
}

my ($n, $go) = @ARGV;
my $server = IO::Socket::INET->new(
    Listen    => 16,
    LocalAddr => '127.0.0.1',
    LocalPort => 0,
    ReuseAddr => 1
) or die "listen: $!\n";
$| = 1;
print "listening on ", $server->sockport, "\n";
my (@kept, @threads);
for (1 .. $n) {
    my $conn = $server->accept or die "accept: $!\n";
    push @threads, threads->create(\&worker, $conn, $go);
    push @kept, $conn;
}
my $joined = 0;
$joined += defined $_->join ? 1 : 0 for @threads;
print "joined $joined\n";
