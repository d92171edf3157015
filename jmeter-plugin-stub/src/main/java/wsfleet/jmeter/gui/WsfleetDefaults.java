package wsfleet.jmeter.gui;

import java.net.URI;
import java.net.URISyntaxException;

import org.apache.jmeter.config.ConfigTestElement;
import org.apache.jmeter.testbeans.TestBean;
import org.apache.jmeter.testelement.TestStateListener;
import org.apache.jmeter.util.JMeterUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import wsfleet.jmeter.CloseRecords;
import wsfleet.jmeter.client.ClientConfig;

/**
 * wsfleet Defaults (Add → Config Element): values the wsfleet samplers in its scope take when
 * their own field is empty, as HTTP Request Defaults does for HTTP samplers. Its fields carry the
 * same keys as the samplers' fields, so JMeter's config merging fills them in; the URL base is
 * what an Open with an empty URL uses and what a path in its URL is resolved against.
 *
 * <p>The daemon location fields and the record-variables prefix set the wsfleet.* JMeter
 * properties at test start, before any sampler runs. The JVM's control client is made again at the
 * start of a run whose daemon location differs from its own, so in a GUI session a changed location
 * applies from the next run on (put ${__P(wsfleet.socket,...)} in a field to let -J override it).
 */
public class WsfleetDefaults extends ConfigTestElement implements TestBean, TestStateListener {
  private static final long serialVersionUID = 1L;
  private static final Logger log = LoggerFactory.getLogger(WsfleetDefaults.class);
  static final String URL_BASE = "urlBase";

  /**
   * Field -> the JMeter property it sets at test start: the daemon location the control client
   * reads (a changed location makes a new client at the next run's start, see Fleet), and the
   * prefix of the close-record variables, read per sample.
   */
  static final String[][] PROPERTIES = {
    {"daemonTransport", ClientConfig.TRANSPORT},
    {"daemonSocket", ClientConfig.SOCKET},
    {"daemonTcp", ClientConfig.TCP},
    {"daemonTokenFile", ClientConfig.TOKEN_FILE},
    {"recordVariables", CloseRecords.VARIABLES_PROPERTY},
  };

  private String daemonTransport = "";
  private String daemonSocket = "";
  private String daemonTcp = "";
  private String daemonTokenFile = "";
  private String recordVariables = "";
  private String urlBase = "";
  private String connectTimeout = "";
  private String keepaliveMode = "";
  private String keepaliveInterval = "";
  private String keepaliveJitter = "";
  private String keepalivePayload = "";
  private String pongTimeout = "";
  private String heartbeatReply = "";
  private String tlsVerify = "";
  private String tlsCaFile = "";
  private String tlsServerName = "";
  private String tlsCertFile = "";
  private String tlsKeyFile = "";
  private String tlsCiphers = "";
  private String compression = "";
  private String compressionNoContextTakeover = "";
  private String proxy = "";
  private String preset = "";
  private String presetOptions = "";
  private String framing = "";
  private String sessionSteps = "";
  private String autoReply = "";
  private String reconnectMax = "";
  private String reconnectBackoff = "";
  private String reconnectBackoffMax = "";
  private String reconnectJitter = "";
  private String rateLimitMessages = "";
  private String rateLimitPerMs = "";

  public String getDaemonTransport() {
    return daemonTransport;
  }

  public void setDaemonTransport(String v) {
    daemonTransport = v;
  }

  public String getDaemonSocket() {
    return daemonSocket;
  }

  public void setDaemonSocket(String v) {
    daemonSocket = v;
  }

  public String getDaemonTcp() {
    return daemonTcp;
  }

  public void setDaemonTcp(String v) {
    daemonTcp = v;
  }

  public String getDaemonTokenFile() {
    return daemonTokenFile;
  }

  public void setDaemonTokenFile(String v) {
    daemonTokenFile = v;
  }

  public String getRecordVariables() {
    return recordVariables;
  }

  public void setRecordVariables(String v) {
    recordVariables = v;
  }

  public String getUrlBase() {
    return urlBase;
  }

  public void setUrlBase(String v) {
    urlBase = v;
  }

  public String getConnectTimeout() {
    return connectTimeout;
  }

  public void setConnectTimeout(String v) {
    connectTimeout = v;
  }

  public String getKeepaliveMode() {
    return keepaliveMode;
  }

  public void setKeepaliveMode(String v) {
    keepaliveMode = v;
  }

  public String getKeepaliveInterval() {
    return keepaliveInterval;
  }

  public void setKeepaliveInterval(String v) {
    keepaliveInterval = v;
  }

  public String getKeepaliveJitter() {
    return keepaliveJitter;
  }

  public void setKeepaliveJitter(String v) {
    keepaliveJitter = v;
  }

  public String getKeepalivePayload() {
    return keepalivePayload;
  }

  public void setKeepalivePayload(String v) {
    keepalivePayload = v;
  }

  public String getPongTimeout() {
    return pongTimeout;
  }

  public void setPongTimeout(String v) {
    pongTimeout = v;
  }

  public String getHeartbeatReply() {
    return heartbeatReply;
  }

  public void setHeartbeatReply(String v) {
    heartbeatReply = v;
  }

  public String getTlsVerify() {
    return tlsVerify;
  }

  public void setTlsVerify(String v) {
    tlsVerify = v;
  }

  public String getTlsCaFile() {
    return tlsCaFile;
  }

  public void setTlsCaFile(String v) {
    tlsCaFile = v;
  }

  public String getTlsServerName() {
    return tlsServerName;
  }

  public void setTlsServerName(String v) {
    tlsServerName = v;
  }

  public String getTlsCertFile() {
    return tlsCertFile;
  }

  public void setTlsCertFile(String v) {
    tlsCertFile = v;
  }

  public String getTlsKeyFile() {
    return tlsKeyFile;
  }

  public void setTlsKeyFile(String v) {
    tlsKeyFile = v;
  }

  public String getTlsCiphers() {
    return tlsCiphers;
  }

  public void setTlsCiphers(String v) {
    tlsCiphers = v;
  }

  public String getCompression() {
    return compression;
  }

  public void setCompression(String v) {
    compression = v;
  }

  public String getProxy() {
    return proxy;
  }

  public void setProxy(String v) {
    proxy = v;
  }

  public String getCompressionNoContextTakeover() {
    return compressionNoContextTakeover;
  }

  public void setCompressionNoContextTakeover(String v) {
    compressionNoContextTakeover = v;
  }

  public String getPreset() {
    return preset;
  }

  public void setPreset(String v) {
    preset = v;
  }

  public String getPresetOptions() {
    return presetOptions;
  }

  public void setPresetOptions(String v) {
    presetOptions = v;
  }

  public String getFraming() {
    return framing;
  }

  public void setFraming(String v) {
    framing = v;
  }

  public String getSessionSteps() {
    return sessionSteps;
  }

  public void setSessionSteps(String v) {
    sessionSteps = v;
  }

  public String getAutoReply() {
    return autoReply;
  }

  public void setAutoReply(String v) {
    autoReply = v;
  }

  public String getReconnectMax() {
    return reconnectMax;
  }

  public void setReconnectMax(String v) {
    reconnectMax = v;
  }

  public String getReconnectBackoff() {
    return reconnectBackoff;
  }

  public void setReconnectBackoff(String v) {
    reconnectBackoff = v;
  }

  public String getReconnectBackoffMax() {
    return reconnectBackoffMax;
  }

  public void setReconnectBackoffMax(String v) {
    reconnectBackoffMax = v;
  }

  public String getReconnectJitter() {
    return reconnectJitter;
  }

  public void setReconnectJitter(String v) {
    reconnectJitter = v;
  }

  public String getRateLimitMessages() {
    return rateLimitMessages;
  }

  public void setRateLimitMessages(String v) {
    rateLimitMessages = v;
  }

  public String getRateLimitPerMs() {
    return rateLimitPerMs;
  }

  public void setRateLimitPerMs(String v) {
    rateLimitPerMs = v;
  }

  @Override
  public void testStarted() {
    for (String[] d : PROPERTIES) {
      String v = getPropertyAsString(d[0]).trim();
      if (!v.isEmpty()) {
        JMeterUtils.setProperty(d[1], v);
        log.info("wsfleet Defaults: {}={}", d[1], v);
      }
    }
  }

  @Override
  public void testStarted(String host) {
    testStarted();
  }

  @Override
  public void testEnded() {
    // nothing to undo: the properties stay as the run left them
  }

  @Override
  public void testEnded(String host) {
    testEnded();
  }

  /**
   * An Open's URL against the Defaults' URL base: empty takes the base, an absolute ws:// or
   * wss:// URL stands as it is, anything else is resolved as a URI reference ("/chat" replaces
   * the base's path, "chat" is appended to a base ending in "/").
   */
  static String resolveUrl(String base, String url) {
    String b = base == null ? "" : base.trim();
    String u = url == null ? "" : url.trim();
    if (u.isEmpty()) {
      return b;
    }
    if (b.isEmpty() || u.contains("://")) {
      return u;
    }
    try {
      return new URI(b).resolve(new URI(u)).toString();
    } catch (URISyntaxException e) {
      return u; // the daemon rejects it and says why, naming the URL
    }
  }
}
