# A plain IO::Socket::INET server whose handler reads to end-of-stream and
# returns without closing the connection, which the main loop keeps: each
# sits in CLOSE_WAIT. argv: how many connections, and a file: the kept
# connections are held until it exists (the test's go-ahead; at most 30 s).
use strict;
use warnings;
use IO::Socket::INET;
use Time::HiRes qw(sleep);

sub handle {
    my ($conn) = @_;
    my $seen = 0;
    while (1) {
        my $got = sysread($conn, my $chunk, 4096);    # EOF-SITE
        die "sysread: $!\n" unless defined $got;
        return $seen unless $got;                     # end-of-stream: no close
        $seen += $got;
    }
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
my @kept;
for (1 .. $n) {
    my $conn = $server->accept or die "accept: $!\n";
    handle($conn);    # CALL-SITE
    push @kept, $conn;
}
print "kept ", scalar(@kept), "\n";
for (1 .. 300) {
    last if -e $go;
    sleep 0.1;
}
