package wsfleet.jmeter.gui;

import wsfleet.jmeter.OpenConnection;
import wsfleet.jmeter.WsfleetSampler;


/**
 * wsfleet Open: {@code wsfleet.jmeter.OpenConnection} as a sampler of its own.
 * Opens a WebSocket held by wsfleetd, or reuses the live one of that name.
 */
public class OpenSampler extends ConnectionSampler {
  private static final long serialVersionUID = 1L;

  static final Field[] FIELDS = {
      new Field("connection", WsfleetSampler.CONN),
      new Field("url", OpenConnection.URL),
      new Field("reuse", OpenConnection.REUSE),
      new Field("connectTimeout", OpenConnection.CONNECT_TIMEOUT),
      new Field("headers", OpenConnection.HEADERS),
      new Field("subprotocols", OpenConnection.SUBPROTOCOLS),
      new Field("keepaliveMode", OpenConnection.KA_MODE),
      new Field("keepaliveInterval", OpenConnection.KA_INTERVAL),
      new Field("keepaliveJitter", OpenConnection.KA_JITTER),
      new Field("keepalivePayload", OpenConnection.KA_PAYLOAD),
      new Field("pongTimeout", OpenConnection.PONG_TIMEOUT),
      new Field("heartbeatReply", OpenConnection.KA_REPLY),
      new Field("maxMessageBytes", OpenConnection.MAX_MESSAGE),
      new Field("inboxMaxMessages", OpenConnection.INBOX_MESSAGES),
      new Field("inboxMaxBytes", OpenConnection.INBOX_BYTES),
      new Field("tlsVerify", OpenConnection.TLS_VERIFY),
      new Field("tlsCaFile", OpenConnection.TLS_CA),
      new Field("tlsServerName", OpenConnection.TLS_SERVER_NAME),
      new Field("tlsCertFile", OpenConnection.TLS_CERT),
      new Field("tlsKeyFile", OpenConnection.TLS_KEY),
      new Field("tlsCiphers", OpenConnection.TLS_CIPHERS),
      new Field("compression", OpenConnection.DEFLATE),
      new Field("compressionNoContextTakeover", OpenConnection.DEFLATE_NO_CONTEXT),
      new Field("proxy", OpenConnection.PROXY),
      new Field("preset", OpenConnection.PRESET),
      new Field("presetOptions", OpenConnection.PRESET_OPTIONS),
      new Field("framing", OpenConnection.FRAMING),
      new Field("sessionSteps", OpenConnection.SESSION),
      new Field("autoReply", OpenConnection.AUTO_REPLY),
      new Field("reconnectMax", OpenConnection.RECONNECT_MAX),
      new Field("reconnectBackoff", OpenConnection.RECONNECT_BACKOFF),
      new Field("reconnectBackoffMax", OpenConnection.RECONNECT_BACKOFF_MAX),
      new Field("reconnectJitter", OpenConnection.RECONNECT_JITTER),
      new Field("rateLimitMessages", OpenConnection.RATE_MESSAGES),
      new Field("rateLimitPerMs", OpenConnection.RATE_PER_MS),
  };

  private String url = "";
  private String reuse = "";
  private String connectTimeout = "";
  private String headers = "";
  private String subprotocols = "";
  private String keepaliveMode = "";
  private String keepaliveInterval = "";
  private String keepaliveJitter = "";
  private String keepalivePayload = "";
  private String pongTimeout = "";
  private String heartbeatReply = "";
  private String maxMessageBytes = "";
  private String inboxMaxMessages = "";
  private String inboxMaxBytes = "";
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

  @Override
  String delegate() {
    return "OpenConnection";
  }

  @Override
  String value(String key) {
    String v = super.value(key);
    return key.equals("url") ? WsfleetDefaults.resolveUrl(getPropertyAsString(WsfleetDefaults.URL_BASE), v) : v;
  }

  @Override
  Field[] fields() {
    return FIELDS;
  }

  public String getUrl() {
    return url;
  }

  public void setUrl(String v) {
    url = v;
  }

  public String getReuse() {
    return reuse;
  }

  public void setReuse(String v) {
    reuse = v;
  }

  public String getConnectTimeout() {
    return connectTimeout;
  }

  public void setConnectTimeout(String v) {
    connectTimeout = v;
  }

  public String getHeaders() {
    return headers;
  }

  public void setHeaders(String v) {
    headers = v;
  }

  public String getSubprotocols() {
    return subprotocols;
  }

  public void setSubprotocols(String v) {
    subprotocols = v;
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

  public String getMaxMessageBytes() {
    return maxMessageBytes;
  }

  public void setMaxMessageBytes(String v) {
    maxMessageBytes = v;
  }

  public String getInboxMaxMessages() {
    return inboxMaxMessages;
  }

  public void setInboxMaxMessages(String v) {
    inboxMaxMessages = v;
  }

  public String getInboxMaxBytes() {
    return inboxMaxBytes;
  }

  public void setInboxMaxBytes(String v) {
    inboxMaxBytes = v;
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

  public String getCompressionNoContextTakeover() {
    return compressionNoContextTakeover;
  }

  public void setCompressionNoContextTakeover(String v) {
    compressionNoContextTakeover = v;
  }

  public String getProxy() {
    return proxy;
  }

  public void setProxy(String v) {
    proxy = v;
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
}
