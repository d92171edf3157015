/* The name functions of vocab.h and cause.h, generated from their lists.
 * A value outside its list (a bug) gets the list's first name rather than a
 * read past the table. */
#include "vocab.h"

#include <string.h>

#include "util.h"

static const char *const cause_names[] = {
#define WSF_CAUSE_NAME(id, name, words) [WSF_CAUSE_##id] = name,
    WSF_CAUSES(WSF_CAUSE_NAME)
#undef WSF_CAUSE_NAME
};

static const char *const cause_words[] = {
#define WSF_CAUSE_WORDS(id, name, words) [WSF_CAUSE_##id] = words,
    WSF_CAUSES(WSF_CAUSE_WORDS)
#undef WSF_CAUSE_WORDS
};

static const char *const state_names[] = {
#define WSF_STATE_NAME(id, name) [WSF_CONN_##id] = name,
    WSF_CONN_STATES(WSF_STATE_NAME)
#undef WSF_STATE_NAME
};

static const char *const initiator_names[] = {
#define WSF_INITIATOR_NAME(id, name) [WSF_BY_##id] = name,
    WSF_INITIATORS(WSF_INITIATOR_NAME)
#undef WSF_INITIATOR_NAME
};

static const char *const ka_mode_names[] = {
#define WSF_KA_MODE_NAME(id, name) [WSF_KA_##id] = name,
    WSF_KA_MODES(WSF_KA_MODE_NAME)
#undef WSF_KA_MODE_NAME
};

static const char *const err_codes[] = {
#define WSF_ERR_NAME(id, name) [WSF_##id] = name,
    WSF_ERRS(WSF_ERR_NAME)
#undef WSF_ERR_NAME
};

#define NAME_IN(table, i) ((unsigned)(i) < WSF_ARRAY_LEN(table) ? (table)[i] : (table)[0])

const char *wsf_cause_name(wsf_cause c) {
  return NAME_IN(cause_names, c);
}

const char *wsf_cause_words(wsf_cause c) {
  return NAME_IN(cause_words, c);
}

const char *wsf_conn_state_name(wsf_conn_state s) {
  return NAME_IN(state_names, s);
}

const char *wsf_initiator_name(int initiator) {
  return NAME_IN(initiator_names, initiator);
}

const char *wsf_ka_mode_name(int mode) {
  return NAME_IN(ka_mode_names, mode);
}

const char *wsf_err_code(wsf_err e) {
  return NAME_IN(err_codes, e);
}

static const char *const framing_names[] = {
#define WSF_FRAMING_NAME(id, name) [WSF_FRAMING_##id] = name,
    WSF_FRAMINGS(WSF_FRAMING_NAME)
#undef WSF_FRAMING_NAME
};

const char *wsf_framing_name(wsf_framing_mode m) {
  return NAME_IN(framing_names, m);
}

static const char *const preset_names[] = {
#define WSF_PRESET_NAME(id, name) [WSF_PRESET_##id] = name,
    WSF_PRESETS(WSF_PRESET_NAME)
#undef WSF_PRESET_NAME
};

const char *wsf_preset_name(wsf_preset p) {
  return NAME_IN(preset_names, p);
}

static int find(const char *const *table, size_t n, size_t first, const char *s, size_t len) {
  for (size_t i = first; i < n; i++)
    if (strlen(table[i]) == len && memcmp(table[i], s, len) == 0)
      return (int)i;
  return -1;
}

int wsf_framing_parse(const char *s, size_t len) {
  return find(framing_names, WSF_ARRAY_LEN(framing_names), 0, s, len);
}

int wsf_preset_parse(const char *s, size_t len) {
  return find(preset_names, WSF_ARRAY_LEN(preset_names), WSF_PRESET_NONE + 1, s, len);
}
