package wsfleet.jmeter.gui;

/** Form of wsfleet Defaults; labels come from WsfleetDefaultsResources. */
public class WsfleetDefaultsBeanInfo extends WsfleetBeanInfo {
  public WsfleetDefaultsBeanInfo() {
    super(WsfleetDefaults.class);
    group("daemonGroup", "daemonTransport", "daemonSocket", "daemonTcp", "daemonTokenFile");
    group("connectionGroup", "urlBase", "connectTimeout");
    group("keepaliveGroup",
        "keepaliveMode", "keepaliveInterval", "keepaliveJitter", "keepalivePayload", "pongTimeout", "heartbeatReply");
    group("tlsGroup",
        "tlsVerify", "tlsCaFile", "tlsServerName", "tlsCertFile", "tlsKeyFile", "tlsCiphers");
    group("compressionGroup", "compression", "compressionNoContextTakeover");
    group("proxyGroup", "proxy");
    protocolSessionGroups();
    group("resultsGroup", "recordVariables");
    tags("daemonTransport", "auto", "unix", "tcp");
    tags("keepaliveMode", "ping", "text", "binary", "none");
    tags("tlsVerify", "true", "false");
    tags("compression", "true", "false");
    tags("compressionNoContextTakeover", "true", "false");
  }
}
