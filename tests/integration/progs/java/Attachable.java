// Waits for `jcmd` to attach: the JVM's attach listener then makes a socket
// from the VM's own C++ code, where no Java frames may be asked for. Prints
// its pid on the "listening on" line the tests read; exits once the file
// named by args[0] exists.
import java.nio.file.Files;
import java.nio.file.Path;

public class Attachable {
    public static void main(String[] args) throws Exception {
        System.out.println("listening on " + ProcessHandle.current().pid());
        System.out.flush();
        Path done = Path.of(args[0]);
        for (int i = 0; i < 400 && !Files.exists(done); i++)
            Thread.sleep(50);
        System.out.println("attached " + Files.exists(done));
    }
}
