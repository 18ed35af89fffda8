# A TCPServer whose handler reads to end-of-stream and returns without
# closing the connection: each one sits in CLOSE_WAIT. argv: how many
# connections to serve, then a file whose appearance tells it to exit (the
# test's go-ahead, once it saw what it waits for).
require "socket"

class Handler
  def initialize(conn)
    @conn = conn
  end

  def serve
    request = +""
    while (chunk = @conn.read(4096)) # EOF-SITE
      request << chunk
    end
    request.size # returns without closing @conn
  end
end

def run(count, go)
  server = TCPServer.new("127.0.0.1", 0)
  kept = []
  puts "listening on #{server.addr[1]}"
  $stdout.flush
  count.times do
    conn = server.accept
    Handler.new(conn).serve
    kept << conn
  end
  puts "served #{kept.size}"
  $stdout.flush
  # The connections stay open until the test says so (at most 30 s).
  300.times do
    break if File.exist?(go)
    sleep 0.1
  end
end

run(Integer(ARGV[0]), ARGV[1])
