// Connects through Target.dial, redefines Target (java.lang.instrument, as a
// debugger's hot swap does) with the class file named by args[0], connects
// again: two leaked clients, each at its own version's line. Exits once the
// file named by args[1] exists (at most 30 s).
import java.io.File;
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
        File go = new File(args[1]);
        ServerSocket srv = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        int port = srv.getLocalPort();
        kept.add(Target.dial(port));
        srv.accept().close();
        byte[] v2 = Files.readAllBytes(Path.of(args[0]));
        inst.redefineClasses(new ClassDefinition(Target.class, v2));
        kept.add(Target.dial(port));
        srv.accept().close();
        System.out.println("listening on " + port);
        System.out.flush();
        for (int i = 0; i < 300 && !go.exists(); i++)
            Thread.sleep(100);
        System.out.println("done");
    }
}
