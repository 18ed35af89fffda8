// Apache HttpClient 4 through its pooling connection manager: each request's
// response is neither consumed nor closed, so its connection stays leased.
// The server closes the connections after answering: they sit in CLOSE_WAIT,
// held by the pool, found by the kernel sweep at the user's request line.
// args: server port, number of requests, file whose existence ends the run.
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.apache.http.HttpResponse;
import org.apache.http.client.methods.HttpGet;
import org.apache.http.impl.client.CloseableHttpClient;
import org.apache.http.impl.client.HttpClients;
import org.apache.http.impl.conn.PoolingHttpClientConnectionManager;

public class HttpLeak {
    static final List<HttpResponse> kept = new ArrayList<>();

    static HttpResponse fetch(CloseableHttpClient client, String url) throws Exception {
        return client.execute(new HttpGet(url)); // REQUEST-SITE
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]), n = Integer.parseInt(args[1]);
        PoolingHttpClientConnectionManager pool = new PoolingHttpClientConnectionManager();
        pool.setMaxTotal(n);
        pool.setDefaultMaxPerRoute(n);
        CloseableHttpClient client = HttpClients.custom().setConnectionManager(pool).build();
        for (int i = 0; i < n; i++)
            kept.add(fetch(client, "http://127.0.0.1:" + port + "/item/" + i));
        System.out.println("status " + kept.get(0).getStatusLine().getStatusCode());
        System.out.println("leased " + pool.getTotalStats().getLeased());
        System.out.println("listening on " + port);
        System.out.flush();
        Path done = Path.of(args[2]);
        for (int i = 0; i < 600 && !Files.exists(done); i++)
            Thread.sleep(50);
        System.out.println("done " + Files.exists(done));
    }
}
