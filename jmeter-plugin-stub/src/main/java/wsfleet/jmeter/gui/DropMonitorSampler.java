package wsfleet.jmeter.gui;

import wsfleet.jmeter.DropMonitor;

/**
 * wsfleet Drop Monitor: {@code wsfleet.jmeter.DropMonitor} as a sampler of its own. In a thread
 * group of its own (one thread, loop forever) it turns every background ending into a failed sample.
 */
public class DropMonitorSampler extends WsfleetTestBean {
  private static final long serialVersionUID = 1L;

  static final Field[] FIELDS = {
      new Field("waitForEnding", DropMonitor.WAIT),
      new Field("ignoreCauses", DropMonitor.IGNORE),
      new Field("stopWhenOthersEnded", DropMonitor.STOP),
  };

  private String waitForEnding = "";
  private String ignoreCauses = "";
  private String stopWhenOthersEnded = "";

  @Override
  String delegate() {
    return "DropMonitor";
  }

  @Override
  Field[] fields() {
    return FIELDS;
  }

  public String getWaitForEnding() {
    return waitForEnding;
  }

  public void setWaitForEnding(String v) {
    waitForEnding = v;
  }

  public String getIgnoreCauses() {
    return ignoreCauses;
  }

  public void setIgnoreCauses(String v) {
    ignoreCauses = v;
  }

  public String getStopWhenOthersEnded() {
    return stopWhenOthersEnded;
  }

  public void setStopWhenOthersEnded(String v) {
    stopWhenOthersEnded = v;
  }
}
