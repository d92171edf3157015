package wsfleet.jmeter;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.function.Function;

/**
 * Which HTTP proxy an open names, as JMeter's own HTTP sampler would pick it, so a plan run with
 * {@code jmeter -H proxy -P 3128} reaches the gateway the way its HTTP samplers do.
 *
 * <p>Precedence: the Open's own proxy field ({@code none} for a direct connection); else the JVM's
 * {@code https.proxyHost}/{@code https.proxyPort} for wss:// and {@code http.proxyHost}/
 * {@code http.proxyPort} for ws:// (JMeter's {@code -H/-P} set both pairs), unless the URL's host
 * is in {@code http.nonProxyHosts} ({@code -N}); else nothing, and the daemon's own default
 * ({@code --proxy}, its environment) applies. The credentials are those JMeter's {@code -u/-a} put
 * in the JMeter properties {@code http.proxyUser}/{@code http.proxyPass}, which is where
 * JMeter's HTTP sampler reads them (HTTPHCAbstractImpl).
 */
final class ProxySettings {
  /** The value that asks the daemon for a direct connection. */
  static final String NONE = "none";

  private ProxySettings() {}

  /**
   * The open's {@code proxy} field, or null to leave it out.
   *
   * @param explicit the sampler's proxy parameter, null when blank
   * @param url the WebSocket URL being opened
   * @param system the JVM system properties (System::getProperty)
   * @param jmeter the JMeter properties (null when a key is unset)
   */
  static String forOpen(String explicit, String url, Function<String, String> system,
      Function<String, String> jmeter) {
    if (explicit != null) {
      return explicit.equalsIgnoreCase(NONE) ? NONE : explicit;
    }
    boolean secure = url.regionMatches(true, 0, "wss:", 0, 4);
    String prefix = secure ? "https." : "http.";
    String host = blankToNull(system.apply(prefix + "proxyHost"));
    if (host == null) {
      return null;
    }
    String target = host(url);
    if (target != null && nonProxy(blankToNull(system.apply("http.nonProxyHosts")), target)) {
      return null;
    }
    // Java's default when the port is unset is 80, for both http. and https. proxies.
    String port = blankToNull(system.apply(prefix + "proxyPort"));
    StringBuilder out = new StringBuilder("http://");
    String user = blankToNull(jmeter.apply("http.proxyUser"));
    if (user != null) {
      out.append(percentEncode(user));
      String pass = jmeter.apply("http.proxyPass");
      if (pass != null && !pass.isEmpty()) {
        out.append(':').append(percentEncode(pass));
      }
      out.append('@');
    }
    out.append(host.indexOf(':') >= 0 && !host.startsWith("[") ? "[" + host + "]" : host);
    out.append(':').append(port == null ? "80" : port);
    return out.toString();
  }

  /**
   * JMeter's rule for {@code http.nonProxyHosts}: entries separated by '|'; one starting with '*'
   * matches a host ending in the rest, another the host exactly. Compared case-insensitively
   * (host names are), which JMeter does not.
   */
  static boolean nonProxy(String list, String host) {
    if (list == null) {
      return false;
    }
    String h = host.toLowerCase(Locale.ROOT);
    for (String entry : list.split("\\|")) {
      String e = entry.trim().toLowerCase(Locale.ROOT);
      if (e.isEmpty()) {
        continue;
      }
      if (e.startsWith("*") ? h.endsWith(e.substring(1)) : h.equals(e)) {
        return true;
      }
    }
    return false;
  }

  /** The URL's host (IPv6 without brackets), or null when the URL does not parse. */
  static String host(String url) {
    try {
      String h = new URI(url).getHost();
      if (h != null && h.startsWith("[") && h.endsWith("]")) {
        h = h.substring(1, h.length() - 1);
      }
      return h;
    } catch (URISyntaxException e) {
      return null;
    }
  }

  /** userinfo as the daemon percent-decodes it: everything but unreserved characters encoded. */
  static String percentEncode(String s) {
    StringBuilder b = new StringBuilder();
    for (byte c : s.getBytes(StandardCharsets.UTF_8)) {
      int v = c & 0xff;
      if ((v >= 'a' && v <= 'z') || (v >= 'A' && v <= 'Z') || (v >= '0' && v <= '9') || v == '-' || v == '.'
          || v == '_' || v == '~') {
        b.append((char) v);
      } else {
        b.append('%').append(Character.toUpperCase(Character.forDigit(v >> 4, 16)))
            .append(Character.toUpperCase(Character.forDigit(v & 15, 16)));
      }
    }
    return b.toString();
  }

  private static String blankToNull(String s) {
    return s == null || s.trim().isEmpty() ? null : s.trim();
  }
}
