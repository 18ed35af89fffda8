// The server in Java: a handler reads each request and the accept
// loop keeps the connection in a list, for a reply that never comes. The
// clients hang up: every kept socket sits in CLOSE_WAIT with its
// end-of-stream unread (close_wait_unread, last read at take).
// Usage: KeptServer CONNECTIONS GOFILE (exits once GOFILE exists, at most 30 s)
import java.io.File;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;

public class KeptServer {
    static final List<Socket> kept = new ArrayList<>();

    static int take(Socket s) throws Exception {
        byte[] buf = new byte[100];
        return s.getInputStream().read(buf); // LAST-READ-SITE
    }

    public static void main(String[] args) throws Exception {
        int conns = Integer.parseInt(args[0]);
        File go = new File(args[1]);
        ServerSocket srv = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        System.out.println("listening on " + srv.getLocalPort());
        System.out.flush();
        for (int i = 0; i < conns; i++) {
            Socket s = srv.accept(); // ACCEPT-SITE
            take(s);
            kept.add(s);
        }
        for (int i = 0; i < 300 && !go.exists(); i++)
            Thread.sleep(100);
    }
}
