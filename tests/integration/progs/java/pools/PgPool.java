// A trivial JDBC pool over the PostgreSQL driver: n connections, one query
// each, kept in a list and never closed. The server ends idle sessions
// (idle_session_timeout): the pooled connections sit in CLOSE_WAIT, found by
// the kernel sweep at the user's getConnection line.
// args: server port, number of connections, file whose existence ends the run.
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

public class PgPool {
    static final List<Connection> pool = new ArrayList<>();

    static Connection open(String url) throws Exception {
        return DriverManager.getConnection(url, "postgres", ""); // CONNECT-SITE
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]), n = Integer.parseInt(args[1]);
        String url = "jdbc:postgresql://127.0.0.1:" + port + "/postgres?sslmode=disable";
        for (int i = 0; i < n; i++) {
            Connection c = open(url);
            try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("select 1")) {
                rs.next();
            }
            pool.add(c);
        }
        System.out.println("pooled " + pool.size());
        System.out.println("listening on " + port);
        System.out.flush();
        Path done = Path.of(args[2]);
        for (int i = 0; i < 600 && !Files.exists(done); i++)
            Thread.sleep(50);
        System.out.println("done " + Files.exists(done));
    }
}
