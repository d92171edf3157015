package wsfleet.jmeter.gui;

import java.beans.PropertyDescriptor;

import org.apache.jmeter.testbeans.BeanInfoSupport;
import org.apache.jmeter.testbeans.TestBean;
import org.apache.jmeter.testbeans.gui.TypeEditor;

/**
 * Form building shared by the wsfleet elements. Every field is a string that starts empty, and
 * empty means "not given": the Java Request default, or what a wsfleet Defaults in scope says.
 * Fields with a fixed vocabulary get a drop-down that still accepts ${expressions}.
 */
abstract class WsfleetBeanInfo extends BeanInfoSupport {
  protected WsfleetBeanInfo(Class<? extends TestBean> bean) {
    super(bean);
  }

  /** A titled group of fields, shown in this order. */
  protected void group(String name, String... keys) {
    createPropertyGroup(name, keys);
    for (String k : keys) {
      PropertyDescriptor p = property(k);
      p.setValue(NOT_UNDEFINED, Boolean.TRUE);
      p.setValue(DEFAULT, "");
      p.setValue(DEFAULT_NOT_SAVED, Boolean.TRUE);
    }
  }

  /** Inherited fields this form does not have (nothing is saved for them). */
  protected void hide(String... keys) {
    for (String k : keys) {
      property(k).setHidden(true);
    }
  }

  protected void tags(String key, String... tags) {
    property(key).setValue(TAGS, tags);
  }

  protected void textArea(String key) {
    property(key, TypeEditor.TextAreaEditor);
  }

  /** The protocol-session fields of wsfleet Open and wsfleet Defaults (same keys on both). */
  protected void protocolSessionGroups() {
    group("protocolGroup", "preset", "presetOptions", "framing", "sessionSteps", "autoReply");
    group("reconnectGroup", "reconnectMax", "reconnectBackoff", "reconnectBackoffMax", "reconnectJitter");
    group("rateLimitGroup", "rateLimitMessages", "rateLimitPerMs");
    tags("preset", "none", "socketio4", "stomp12", "signalr-json", "echo-heartbeat");
    tags("framing", "message", "record_separator", "stomp");
    textArea("presetOptions");
    textArea("sessionSteps");
    textArea("autoReply");
  }

  /** The groups of the message helpers' fields (Send, Request-Response), after the message group. */
  protected void messageKindGroups() {
    group("socketioGroup", "sioNamespace", "sioEvent", "sioArgs", "sioAck");
    group("stompGroup", "stompCommand", "stompDestination", "stompId", "stompHeaders", "stompReceipt");
    group("signalrGroup", "signalrTarget", "signalrArguments", "signalrCompletion");
  }

  /** Editors of the message helpers' fields. */
  protected void messageKindFields() {
    tags("messageKind", "raw", "socketio", "stomp", "signalr");
    tags("sioAck", "true", "false");
    tags("stompCommand", "SEND", "SUBSCRIBE", "UNSUBSCRIBE", "ACK", "NACK", "BEGIN", "COMMIT", "ABORT", "DISCONNECT");
    tags("stompReceipt", "true", "false");
    tags("signalrCompletion", "true", "false");
    textArea("sioArgs");
    textArea("signalrArguments");
  }
}
