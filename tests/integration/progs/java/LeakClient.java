// A client whose peer closes: the socket is never read again nor closed,
// so it stays in CLOSE_WAIT, found by the kernel sweep at its connect.
// Usage: LeakClient GOFILE (exits once GOFILE exists, at most 30 s)
import java.io.File;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;

public class LeakClient {
    static final List<Socket> kept = new ArrayList<>();

    static Socket dial(int port) throws Exception {
        return new Socket("127.0.0.1", port); // CONNECT-SITE
    }

    public static void main(String[] args) throws Exception {
        File go = new File(args[0]);
        ServerSocket srv = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        int port = srv.getLocalPort();
        kept.add(dial(port));
        srv.accept().close();
        System.out.println("listening on " + port);
        System.out.flush();
        for (int i = 0; i < 300 && !go.exists(); i++)
            Thread.sleep(100);
        System.out.println("done");
    }
}
