// Java 21+: a virtual thread's client whose peer closes, never read nor
// closed (close_wait_unread), then the same from a platform thread.
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

public class VirtualLeak {
    static final List<Socket> kept = Collections.synchronizedList(new ArrayList<>());

    static void fetch(int port) {
        try {
            kept.add(new Socket("127.0.0.1", port)); // CONNECT-SITE
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    public static void main(String[] args) throws Exception {
        ServerSocket srv = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        int port = srv.getLocalPort();
        Thread.ofVirtual().start(() -> fetch(port)).join();
        srv.accept().close();
        Thread.sleep(300);
        System.out.println("listening on " + port);
        System.out.flush();
        Thread.sleep(1500);
        System.out.println("done " + kept.size());
    }
}
