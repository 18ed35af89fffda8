# The issue's server in Ruby: a handler reads each request and the accept
# loop keeps the connection in a list, for a reply that never comes. The
# clients hang up, so every kept socket sits in CLOSE_WAIT with its
# end-of-stream unread. argv: how many connections to serve, then a file
# whose appearance tells it to exit (the test's go-ahead).
require "socket"

class Handler
  def initialize(conn)
    @conn = conn
  end

  def take
    @conn.readpartial(100) # LAST-READ-SITE
  end
end

def run(count, go)
  server = TCPServer.new("127.0.0.1", 0)
  kept = []
  puts "listening on #{server.addr[1]}"
  $stdout.flush
  count.times do
    conn = server.accept # ACCEPT-SITE
    Handler.new(conn).take
    kept << conn
  end
  # The connections stay open until the test says so (at most 30 s).
  300.times do
    break if File.exist?(go)
    sleep 0.1
  end
end

run(Integer(ARGV[0]), ARGV[1])
