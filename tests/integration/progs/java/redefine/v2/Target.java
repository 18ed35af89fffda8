// The class as redefined: the same method, the connect three lines lower.
public class Target {
    static java.net.Socket dial(int port) throws Exception {
        int p = port;
        p += 0;
        p -= 0;
        return new java.net.Socket("127.0.0.1", p); // CONNECT-SITE
    }
}
