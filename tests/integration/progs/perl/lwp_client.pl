# An HTTP client whose keep-alive connections, held in LWP's connection
# cache (LWP::UserAgent keep_alive => 1), the server closes while they idle:
# nothing reads their FIN, they sit in CLOSE_WAIT. One user agent per
# connection (each caches one). argv: the server's port, how many agents,
# and a file: they are held until it exists (the test's go-ahead; at most
# 30 s).
use strict;
use warnings;
use IO::Select;
use LWP::UserAgent;
use Time::HiRes qw(sleep time);

sub fetch_all {
    my ($port, $n) = @_;
    my @agents;
    for (1 .. $n) {
        my $ua = LWP::UserAgent->new(keep_alive => 1);
        my $res = $ua->get("http://127.0.0.1:$port/");    # OPEN-SITE
        die "GET: " . $res->status_line . "\n" unless $res->is_success && $res->content eq 'ok';
        push @agents, $ua;
    }
    return @agents;
}

# Until the server's FIN has reached every cached socket: readable, and
# left unread.
sub wait_closed_by_server {
    my $sel = IO::Select->new(map { $_->conn_cache->get_connections } @_);
    die "no cached connection\n" unless $sel->count;
    my $end = time + 10;
    while ($sel->count && time < $end) {
        $sel->remove($sel->can_read(0.05));
    }
    die "the server did not close them\n" if $sel->count;
}

my ($port, $n, $go) = @ARGV;
my @agents = fetch_all($port, $n);
wait_closed_by_server(@agents);
$| = 1;
print "listening on $port\n";    # the test's cue: ss sees them now
for (1 .. 300) {                 # they sit in CLOSE_WAIT, cached
    last if -e $go;
    sleep 0.1;
}
print "cached ", scalar(@agents), "\n";
