// Connects through Target.dial, redefines Target (java.lang.instrument, as a
// debugger's hot swap does) with the class file named by args[0], connects
// again: two leaked clients, each at its own version's line.
import java.lang.instrument.ClassDefinition;
import java.lang.instrument.Instrumentation;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

public class Redefine {
    static Instrumentation inst;
    static final List<Socket> kept = new ArrayList<>();

    public static void premain(String args, Instrumentation i) {
        inst = i;
    }

    public static void main(String[] args) throws Exception {
        ServerSocket srv = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        int port = srv.getLocalPort();
        kept.add(Target.dial(port));
        srv.accept().close();
        byte[] v2 = Files.readAllBytes(Path.of(args[0]));
        inst.redefineClasses(new ClassDefinition(Target.class, v2));
        kept.add(Target.dial(port));
        srv.accept().close();
        Thread.sleep(300);
        System.out.println("listening on " + port);
        System.out.flush();
        Thread.sleep(1500);
        System.out.println("done");
    }
}
