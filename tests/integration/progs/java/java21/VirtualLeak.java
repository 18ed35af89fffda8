// Java 21+: a virtual thread's client whose peer closes, never read nor
// closed (close_wait_unread), then the same from a platform thread.
// Usage: VirtualLeak GOFILE (exits once GOFILE exists, at most 30 s)
import java.io.File;
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
        File go = new File(args[0]);
        ServerSocket srv = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        int port = srv.getLocalPort();
        Thread.ofVirtual().start(() -> fetch(port)).join();
        srv.accept().close();
        System.out.println("listening on " + port);
        System.out.flush();
        for (int i = 0; i < 300 && !go.exists(); i++)
            Thread.sleep(100);
        System.out.println("done " + kept.size());
    }
}
