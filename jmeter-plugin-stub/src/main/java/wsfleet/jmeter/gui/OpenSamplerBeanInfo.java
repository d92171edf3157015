package wsfleet.jmeter.gui;

/** Form of wsfleet Open: groups, order and editors (labels: OpenSamplerResources). */
public class OpenSamplerBeanInfo extends WsfleetBeanInfo {
  public OpenSamplerBeanInfo() {
    super(OpenSampler.class);
    group("connectionGroup",
        "connection", "url", "reuse", "connectTimeout", "headers", "subprotocols");
    group("keepaliveGroup",
        "keepaliveMode", "keepaliveInterval", "keepaliveJitter", "keepalivePayload", "pongTimeout", "heartbeatReply");
    group("limitsGroup", "maxMessageBytes", "inboxMaxMessages", "inboxMaxBytes");
    group("tlsGroup",
        "tlsVerify", "tlsCaFile", "tlsServerName", "tlsCertFile", "tlsKeyFile", "tlsCiphers");
    group("compressionGroup", "compression", "compressionNoContextTakeover");
    group("proxyGroup", "proxy");
    protocolSessionGroups();
    tags("reuse", "true", "false", "any"); // a choice, not a checkbox: three values
    tags("keepaliveMode", "ping", "text", "binary", "none");
    tags("tlsVerify", "true", "false");
    tags("compression", "true", "false");
    tags("compressionNoContextTakeover", "true", "false");
  }
}
