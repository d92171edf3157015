package wsfleet.jmeter.client;

/** Hex for binary message data typed into JMeter's GUI and for binary data shown as JSON. */
public final class Hex {
  private static final char[] DIGITS = "0123456789abcdef".toCharArray();

  private Hex() {}

  public static String encode(byte[] b) {
    char[] out = new char[b.length * 2];
    for (int i = 0; i < b.length; i++) {
      out[2 * i] = DIGITS[(b[i] >> 4) & 0xf];
      out[2 * i + 1] = DIGITS[b[i] & 0xf];
    }
    return new String(out);
  }

  /** Decodes hex digits; spaces, colons and a leading 0x are ignored ("0a 0b", "0a:0b", "0x0a0b"). */
  public static byte[] decode(String s) {
    String t = s.trim();
    if (t.startsWith("0x") || t.startsWith("0X")) {
      t = t.substring(2);
    }
    t = t.replaceAll("[\\s:]", "");
    if (t.length() % 2 != 0) {
      throw new IllegalArgumentException("hex data has an odd number of digits: " + s);
    }
    byte[] out = new byte[t.length() / 2];
    for (int i = 0; i < out.length; i++) {
      int hi = Character.digit(t.charAt(2 * i), 16);
      int lo = Character.digit(t.charAt(2 * i + 1), 16);
      if (hi < 0 || lo < 0) {
        throw new IllegalArgumentException("not hex data: " + s);
      }
      out[i] = (byte) (hi << 4 | lo);
    }
    return out;
  }
}
