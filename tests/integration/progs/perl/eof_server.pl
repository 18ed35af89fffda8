# A server whose handler sysreads end-of-stream and returns without
# closing: the leaked sockets stay in CLOSE_WAIT until exit.
use strict;
use warnings;
use IO::Socket::INET;

my $n = shift // 2;
my $hold = (shift // 600) / 1000;
my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 16,
                                Proto => 'tcp', ReuseAddr => 1) or die "listen: $!";
$| = 1;
print "listening on ", $srv->sockport, "\n";
my @kept;

sub handle {
    my ($c) = @_;
    my $buf;
    while (sysread($c, $buf, 64)) { }   # end-of-stream: 0
    push @kept, $c;                     # the bug: never closed
}

for (1 .. $n) {
    my $c = $srv->accept or die "accept: $!";
    handle($c);
}
select(undef, undef, undef, $hold);
print "served $n\n";
