// One stack capture per iteration: SocketChannel.open() makes a TCP socket
// (the library records where: its open_stack), close() ends it. Prints the
// mean ns per iteration over N after a warm-up of N/4.
//
//   javac -d /tmp/b bench/java/OpenClose.java
//   java -cp /tmp/b OpenClose 20000                                  # no library
//   SOCKLEAK_JAVA=0 build/sockleak run -- java -cp /tmp/b OpenClose 20000   # native frames
//   build/sockleak run -- java -cp /tmp/b OpenClose 20000            # Java frames (agent)
import java.nio.channels.SocketChannel;

public class OpenClose {
    static void once() throws Exception {
        SocketChannel ch = SocketChannel.open();
        ch.close();
    }

    static void deeper(int depth) throws Exception {
        if (depth == 0)
            once();
        else
            deeper(depth - 1);
    }

    public static void main(String[] args) throws Exception {
        int n = Integer.parseInt(args[0]);
        int depth = args.length > 1 ? Integer.parseInt(args[1]) : 0;
        for (int i = 0; i < n / 4; i++)
            deeper(depth);
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++)
            deeper(depth);
        long t1 = System.nanoTime();
        System.out.printf("%d ns per open+close (depth %d)%n", (t1 - t0) / n, depth);
    }
}
