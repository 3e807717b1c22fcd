// A small JVM service for the language examples: the JDK's HTTP server on a thread pool, file
// I/O, parallel hashing (the common fork-join pool), and a clean stop on SIGTERM.
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.IntStream;

public class App {
    static String query(URI uri, String key, String fallback) {
        String q = uri.getQuery();
        if (q != null) {
            for (String pair : q.split("&")) {
                String[] kv = pair.split("=", 2);
                if (kv.length == 2 && kv[0].equals(key)) return kv[1];
            }
        }
        return fallback;
    }

    static void reply(HttpExchange ex, int code, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.sendResponseHeaders(code, bytes.length);
        try (OutputStream out = ex.getResponseBody()) { out.write(bytes); }
    }

    static String work(int n) {
        return IntStream.range(0, n).parallel().mapToObj(i -> {
            try {
                byte[] data = new byte[1 << 20];
                for (int j = 0; j < data.length; j++) data[j] = (byte) (i + j);
                byte[] sum = MessageDigest.getInstance("SHA-256").digest(data);
                return String.format("%02x%02x", sum[0], sum[1]);
            } catch (Exception e) { throw new RuntimeException(e); }
        }).reduce("", (a, b) -> a.isEmpty() ? b : a);
    }

    public static void main(String[] args) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(8080), 64);
        ExecutorService pool = Executors.newFixedThreadPool(8);
        server.setExecutor(pool);
        server.createContext("/health", ex -> reply(ex, 200, "ok"));
        server.createContext("/work", ex -> {
            int n = Integer.parseInt(query(ex.getRequestURI(), "n", "8"));
            reply(ex, 200, work(Math.max(1, Math.min(n, 64))));
        });
        server.createContext("/file", ex -> {
            String name = Path.of(query(ex.getRequestURI(), "name", "f")).getFileName().toString();
            Path file = Path.of("/tmp", name);
            Files.writeString(file, "hello " + name);
            String back = Files.readString(file);
            Files.delete(file);
            reply(ex, 200, back);
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.stop(0);
            pool.shutdown();
        }));
        server.start();
        System.out.println("listening on :8080");
    }
}
