package wsfleet.jmeter.gui;


/**
 * wsfleet Open: {@code wsfleet.jmeter.OpenConnection} as a sampler of its own.
 * Opens a WebSocket held by wsfleetd, or reuses the live one of that name.
 */
public class OpenSampler extends ConnectionSampler {
  private static final long serialVersionUID = 1L;

  static final Field[] FIELDS = {
      new Field("connection", "Connection name"),
      new Field("url", "URL"),
      new Field("reuse", "Reuse live connection"),
      new Field("connectTimeout", "Connect timeout (ms)"),
      new Field("headers", "Headers (Name: value | Name: value)"),
      new Field("subprotocols", "Subprotocols (comma-separated)"),
      new Field("keepaliveMode", "Keepalive mode (ping|text|binary|none)"),
      new Field("keepaliveInterval", "Keepalive interval (ms)"),
      new Field("keepaliveJitter", "Keepalive jitter (ms)"),
      new Field("keepalivePayload", "Keepalive payload (binary as hex)"),
      new Field("pongTimeout", "Pong timeout (ms)"),
      new Field("heartbeatReply", "Heartbeat reply contains"),
      new Field("maxMessageBytes", "Max message bytes"),
      new Field("inboxMaxMessages", "Inbox max messages"),
      new Field("inboxMaxBytes", "Inbox max bytes"),
      new Field("tlsVerify", "TLS verify certificate"),
      new Field("tlsCaFile", "TLS CA file"),
      new Field("tlsServerName", "TLS server name"),
      new Field("tlsCertFile", "TLS client certificate file"),
      new Field("tlsKeyFile", "TLS client key file"),
      new Field("tlsCiphers", "TLS ciphers"),
      new Field("compression", "Compression (permessage-deflate)"),
      new Field("compressionNoContextTakeover", "Compression without context takeover"),
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
}
