# An HTTP client whose kept-alive connection (net-http-persistent) the
# server closes while it idles: nothing reads its FIN, it sits in
# CLOSE_WAIT. argv: the server's port, then a file whose appearance tells
# it to exit (the test's go-ahead, once it saw what it waits for).
require "net/http/persistent"

class Client
  def initialize(port)
    @http = Net::HTTP::Persistent.new(name: "sockleak-test")
    @uri = URI("http://127.0.0.1:#{port}/")
  end

  def fetch
    body = @http.request(@uri).body # OPEN-SITE
    raise "unexpected body #{body.inspect}" unless body == "ok"
    body
  end
end

port, go = Integer(ARGV[0]), ARGV[1]
client = Client.new(port)
3.times { client.fetch }
puts "listening on #{port}"
$stdout.flush
# The pooled socket stays open until the test says so (at most 30 s).
300.times do
  break if File.exist?(go)
  sleep 0.1
end
puts "done"
