// What a program could see of sockleak: its output and exit status, a
// round trip on a socket, an exception's stack, threads.
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;

public class Transparent {
    public static void main(String[] args) throws Exception {
        ServerSocket srv = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        Thread t = new Thread(() -> {
            try (Socket c = srv.accept()) {
                InputStream in = c.getInputStream();
                OutputStream out = c.getOutputStream();
                byte[] b = new byte[64];
                int n = in.read(b);
                out.write(("echo " + new String(b, 0, n)).getBytes());
            } catch (Exception e) {
                System.out.println("server " + e);
            }
        });
        t.start();
        try (Socket s = new Socket("127.0.0.1", srv.getLocalPort())) {
            s.getOutputStream().write("hello".getBytes());
            s.shutdownOutput();
            byte[] b = new byte[64];
            int n = s.getInputStream().read(b);
            System.out.println(new String(b, 0, n));
            System.out.println("eof " + s.getInputStream().read(b));
        }
        t.join();
        try {
            new Socket("127.0.0.1", 1).close();
        } catch (java.io.IOException e) {
            System.out.println("refused " + e.getClass().getName() + " " + e.getStackTrace()[0].getMethodName());
        }
        System.out.println("threads " + Thread.getAllStackTraces().keySet().stream().filter(x -> !x.isDaemon()).count());
        System.out.println("property " + System.getProperty("java.vm.name").isEmpty());
        System.exit(3);
    }
}
