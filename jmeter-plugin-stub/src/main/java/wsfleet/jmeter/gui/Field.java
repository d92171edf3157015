package wsfleet.jmeter.gui;

/**
 * One field of a wsfleet test element: the key it is saved under in .jmx files (a bean property
 * name, never shown, never renamed) and the parameter key of the Java Request class that receives
 * its value. Labels live in the element's resource bundle, so they can change freely.
 */
final class Field {
  final String key;
  final String param;

  Field(String key, String param) {
    this.key = key;
    this.param = param;
  }
}
