# Many Ruby threads read end-of-stream (each a stack capture, made without
# the GVL) while another thread compacts the heap and allocates: the
# objects our reads follow (iseqs, strings) move under them. Every
# connection is closed but the last one, which leak_one reads to its end
# and keeps. argv: threads, rounds each, then a file whose appearance tells
# it to exit (the test's go-ahead, once it saw the finding).
require "socket"

threads, rounds, go = Integer(ARGV[0]), Integer(ARGV[1]), ARGV[2]
server = TCPServer.new("127.0.0.1", 0)
port = server.addr[1]
puts "listening on #{port}"
$stdout.flush
Thread.new do
  loop do
    conn = server.accept
    conn.close # no write: CRuby 3.1's IO#write can fail with EFAULT when
    # GC.compact moves its string while the GVL is released
  end
end

stop = false
churn = Thread.new do
  compactions = 0
  until stop
    junk = Array.new(2000) { |i| "s#{i}" * 3 }
    junk.map!(&:upcase)
    GC.compact if GC.respond_to?(:compact)
    compactions += 1
  end
  compactions
end

def fetch_once(port)
  s = TCPSocket.new("127.0.0.1", port)
  data = +""
  while (chunk = s.read(4096))
    data << chunk
  end
  s.close
  data
end

def leak_one(port)
  s = TCPSocket.new("127.0.0.1", port)
  s.read # LEAK-SITE
  s # kept open
end

workers = Array.new(threads) do |t|
  Thread.new do
    ok = 0
    rounds.times do
      body = [1].map { fetch_once(port) }.first # deeper: a block from C
      ok += 1 if body == ""
    end
    ok
  end
end
total = workers.sum(&:value)
stop = true
compactions = churn.value
puts "ok #{total} of #{threads * rounds}"
puts "compacted" if compactions > 0
$stdout.flush
kept = leak_one(port)
300.times do
  break if File.exist?(go)
  sleep 0.1
end
puts "kept #{kept.class}"
