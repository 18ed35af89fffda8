// The class as first loaded: the connect on this line.
public class Target {
    static java.net.Socket dial(int port) throws Exception {
        return new java.net.Socket("127.0.0.1", port); // CONNECT-SITE
    }
}
