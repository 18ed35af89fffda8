// A server that reads each connection to its end and returns without
// closing it: one CLOSE_WAIT per connection, found at the read.
// Usage: LeakServer CONNECTIONS GOFILE (exits once GOFILE exists, at most 30 s)
import java.io.File;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;

public class LeakServer {
    static final List<Socket> kept = new ArrayList<>(); // never closed, never collected

    static int drain(Socket s) throws Exception {
        InputStream in = s.getInputStream();
        byte[] buf = new byte[4096];
        int total = 0, n;
        while ((n = in.read(buf)) > 0) // READ-SITE
            total += n;
        return total;
    }

    public static void main(String[] args) throws Exception {
        int conns = Integer.parseInt(args[0]);
        File go = new File(args[1]);
        ServerSocket srv = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        System.out.println("listening on " + srv.getLocalPort());
        System.out.flush();
        for (int i = 0; i < conns; i++) {
            Socket s = srv.accept();
            kept.add(s);
            drain(s);
        }
        for (int i = 0; i < 300 && !go.exists(); i++)
            Thread.sleep(100);
        System.out.println("served " + kept.size());
    }
}
