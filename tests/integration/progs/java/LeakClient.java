// A client whose peer closes: the socket is never read again nor closed,
// so it stays in CLOSE_WAIT, found by the kernel sweep at its connect.
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
        ServerSocket srv = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        int port = srv.getLocalPort();
        kept.add(dial(port));
        srv.accept().close();
        Thread.sleep(300);
        System.out.println("listening on " + port);
        System.out.flush();
        Thread.sleep(1500);
        System.out.println("done");
    }
}
