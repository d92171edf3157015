/* TLS over the transport: OpenSSL driven through a BIO of our own.
 *
 * TLS is one filter of the transport (transport.h, "Filters"): the transport
 * calls it through wsf_tls_filter, and it reaches the socket and the owner
 * only through the wsf_filter_io handed to it at start (s->base.io).
 *
 * libuv owns the socket. Instead of a pair of memory BIOs (each keeps a
 * buffer as large as the biggest flight it ever held, per connection), the
 * session's single BIO reads from the chunk libuv just read into the
 * loop-wide buffer and writes straight into the transport's raw write path
 * (uv_try_write, the rest copied and queued). So an idle session owns no
 * buffers at all: OpenSSL's record buffers go too (SSL_MODE_RELEASE_BUFFERS),
 * and the write side never reports "want write".
 *
 * Memory per idle session is what the design budgets (≤ 24 KiB per wss
 * connection in total), so: no server session cache (it would keep thousands
 * of sessions), one SSL_CTX per distinct configuration, and on the client no
 * tickets unless --tls-session-cache asks for resumption (opts.resume): then
 * one latest session per (gateway address, server name), in slots of the
 * config. Its saving is memory as much as CPU: a full handshake leaves each
 * connection its own decoded server certificate (3.9 KB in OpenSSL 3.0), a
 * resumed one shares the cached session's (X509 is reference-counted). */
#include <arpa/inet.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls_internal.h"
#include "util.h"

/* opts.resume: a gateway's latest session. A slot, once given to a key, keeps
 * it for the config's life (sessions name theirs by index: slot_of), so the
 * bound is on keys, not on sessions. */
typedef struct resume_slot {
  char *key;           /* "address:port sni" */
  SSL_SESSION *latest; /* a reference, or NULL before the first ticket */
} resume_slot;

struct wsf_tls_config {
  wsf_tls_config *next;
  uint32_t refs;        /* holders from wsf_tls_config_get() not yet released */
  wsf_tls_options opts; /* strings owned by the config */
  SSL_CTX *ctx;
  resume_slot *slots; /* opts.resume: WSF_TLS_RESUME_SLOTS of them, allocated on the first key */
  uint32_t n_slots;
};

typedef struct wsf_tls_session {
  wsf_filter base; /* first: the transport's t->filter points here */
  SSL *ssl;
  wsf_tls_config *cfg; /* a reference held for the session's life, so the config outlives it */
  const uint8_t *in;   /* ciphertext of the current socket read, not yet consumed */
  size_t in_len;
  int io_error;  /* libuv error of the last failed raw write */
  uint8_t alert; /* last alert received other than close_notify */
  uint8_t alert_received : 1;
  uint8_t handshake_done : 1;
  uint8_t verified : 1;
  uint8_t name_checked : 1; /* a host name or IP was set for verification */
  uint8_t failed : 1;       /* a fatal error: OpenSSL forbids SSL_shutdown after it */
  uint8_t shutdown_sent : 1;
  uint8_t resume_slot; /* opts.resume: 1 + index of the gateway's slot in cfg->slots; 0 = none */
} wsf_tls_session;

static wsf_tls_config *configs;
static BIO_METHOD *bio_method;
/* One plaintext buffer for the loop, like the read buffer: SSL_read returns
 * at most one record, and on_data consumes it before the next SSL_read. */
static uint8_t plain_buf[16 * 1024];
static char detail_buf[320];
static const unsigned char alpn_http11[] = "\x08http/1.1";

/* ---- the BIO between OpenSSL and libuv ---- */

static int bio_write(BIO *bio, const char *data, int len) {
  wsf_tls_session *s = BIO_get_data(bio);
  BIO_clear_retry_flags(bio);
  int r = s->base.io->write(s->base.t, (const uint8_t *)data, (size_t)len);
  if (r < 0) {
    s->io_error = r;
    return -1;
  }
  return len;
}

static int bio_read(BIO *bio, char *out, int len) {
  wsf_tls_session *s = BIO_get_data(bio);
  BIO_clear_retry_flags(bio);
  if (s->in_len == 0) {
    BIO_set_retry_read(bio); /* "want read": wait for the next socket read */
    return -1;
  }
  size_t n = s->in_len < (size_t)len ? s->in_len : (size_t)len;
  memcpy(out, s->in, n);
  s->in += n;
  s->in_len -= n;
  return (int)n;
}

static long bio_ctrl(BIO *bio, int cmd, long num, void *ptr) {
  (void)bio;
  (void)num;
  (void)ptr;
  return cmd == BIO_CTRL_FLUSH ? 1 : 0; /* writes are already handed to libuv */
}

static int bio_create(BIO *bio) {
  BIO_set_init(bio, 1);
  return 1;
}

static BIO_METHOD *get_bio_method(void) {
  if (!bio_method) {
    bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "wsf-uv");
    if (!bio_method)
      return NULL;
    BIO_meth_set_write(bio_method, bio_write);
    BIO_meth_set_read(bio_method, bio_read);
    BIO_meth_set_ctrl(bio_method, bio_ctrl);
    BIO_meth_set_create(bio_method, bio_create);
  }
  return bio_method;
}

/* ---- configurations ---- */

/* OpenSSL's reason for the oldest queued error: the root cause. */
static const char *openssl_reason(void) {
  static char buf[256];
  unsigned long e = ERR_peek_error();
  if (!e)
    return "unknown error";
  const char *r = ERR_reason_error_string(e);
  if (r)
    return r;
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

static void info_cb(const SSL *ssl, int where, int ret) {
  /* SSL_CB_READ_ALERT shares its SSL_CB_ALERT bit with SSL_CB_WRITE_ALERT. */
  if ((where & SSL_CB_READ_ALERT) != SSL_CB_READ_ALERT)
    return;
  wsf_tls_session *s = SSL_get_app_data(ssl);
  if (!s || (ret & 0xff) == SSL_AD_CLOSE_NOTIFY)
    return;
  s->alert = (uint8_t)(ret & 0xff);
  s->alert_received = 1;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
  (void)ssl;
  (void)arg;
  if (SSL_select_next_proto((unsigned char **)out, outlen, alpn_http11, sizeof(alpn_http11) - 1, in, inlen) ==
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_OK;
  return SSL_TLSEXT_ERR_NOACK;
}

/* Files named in `open` are read here, on the event loop, once per distinct
 * option set: each is opened without blocking (a FIFO or a device is refused:
 * a FIFO used to hang the whole daemon), read whole and parsed from memory. */
#define TLS_FILE_MAX_BYTES (4u << 20) /* a system CA bundle is ~220 KiB */

/* Never a prompt: OpenSSL's default asks on the terminal for a passphrase,
 * which blocked the loop. An encrypted key is an error. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata) {
  (void)buf;
  (void)size;
  (void)rwflag;
  (void)userdata;
  return 0;
}

static BIO *read_pem_file(const char *path, char *err, size_t errlen) {
  char *data, why[512];
  size_t len;
  if (wsf_read_regular_file(path, TLS_FILE_MAX_BYTES, false, &data, &len, why, sizeof why) != 0) {
    snprintf(err, errlen, "%s", why);
    return NULL;
  }
  /* A memory BIO fails only out of memory (len ≤ TLS_FILE_MAX_BYTES). */
  BIO *bio = BIO_new(BIO_s_mem());
  if (!bio || BIO_write(bio, data, (int)len) != (int)len)
    wsf_out_of_memory("TLS file buffer");
  free(data);
  return bio;
}

/* The certificate, then the rest of the chain, as SSL_CTX_use_certificate_chain_file does. */
static int use_chain(SSL_CTX *ctx, BIO *bio) {
  X509 *leaf = PEM_read_bio_X509_AUX(bio, NULL, no_passphrase, NULL);
  if (!leaf || SSL_CTX_use_certificate(ctx, leaf) != 1) {
    X509_free(leaf);
    return -1;
  }
  X509_free(leaf);
  SSL_CTX_clear_chain_certs(ctx);
  X509 *ca;
  while ((ca = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)))
    if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
      X509_free(ca);
      return -1;
    }
  ERR_clear_error(); /* the end of the file reads as "no start line" */
  return 0;
}

static int load_trust(SSL_CTX *ctx, BIO *bio) {
  STACK_OF(X509_INFO) *infos = PEM_X509_INFO_read_bio(bio, NULL, no_passphrase, NULL);
  if (!infos)
    return -1;
  X509_STORE *store = SSL_CTX_get_cert_store(ctx);
  int added = 0;
  for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
    X509_INFO *info = sk_X509_INFO_value(infos, i);
    if (info->x509 && X509_STORE_add_cert(store, info->x509) == 1)
      added++;
    if (info->crl && X509_STORE_add_crl(store, info->crl) == 1)
      added++;
  }
  sk_X509_INFO_pop_free(infos, X509_INFO_free);
  return added ? 0 : -1;
}

#define CTX_FAIL(...)                                                                                        \
  do {                                                                                                       \
    snprintf(err, errlen, __VA_ARGS__);                                                                      \
    SSL_CTX_free(ctx);                                                                                       \
    ERR_clear_error();                                                                                       \
    return NULL;                                                                                             \
  } while (0)

/* A session to resume arrived (a TLS 1.3 ticket after the handshake, or the
 * TLS 1.2 session at its end): it replaces the gateway's latest. Returning 1
 * keeps OpenSSL's reference. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess) {
  wsf_tls_session *s = SSL_get_app_data(ssl);
  if (!s || !s->resume_slot || !SSL_SESSION_is_resumable(sess))
    return 0;
  resume_slot *slot = &s->cfg->slots[s->resume_slot - 1];
  SSL_SESSION_free(slot->latest);
  slot->latest = sess;
  return 1;
}

static SSL_CTX *new_ctx(const wsf_tls_options *o, char *err, size_t errlen) {
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(TLS_method());
  if (!ctx)
    CTX_FAIL("cannot create TLS context: %s", openssl_reason());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  bool resume = o->resume && !o->server;
  SSL_CTX_set_options(ctx,
                      SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | (o->resume ? 0 : SSL_OP_NO_TICKET));
  if (resume) { /* OpenSSL calls on_new_session; the slots are our store, not its cache */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  }
  SSL_CTX_set_info_callback(ctx, info_cb);
  SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
  if (o->ciphers && !SSL_CTX_set_cipher_list(ctx, o->ciphers))
    CTX_FAIL("invalid cipher list \"%s\": %s", o->ciphers, openssl_reason());
  char why[600];
  BIO *bio;
  if (o->cert_file) {
    const char *key = o->key_file ? o->key_file : o->cert_file;
    if (!(bio = read_pem_file(o->cert_file, why, sizeof why)))
      CTX_FAIL("cannot read certificate file %s", why);
    int rc = use_chain(ctx, bio);
    BIO_free(bio);
    if (rc != 0)
      CTX_FAIL("cannot read certificate file %s: %s", o->cert_file, openssl_reason());
    if (!(bio = read_pem_file(key, why, sizeof why)))
      CTX_FAIL("cannot read key file %s", why);
    char *pem;
    long pem_len = BIO_get_mem_data(bio, &pem);
    bool encrypted = pem_len > 0 && memmem(pem, (size_t)pem_len, "ENCRYPTED", 9);
    EVP_PKEY *pkey = encrypted ? NULL : PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    if (encrypted)
      CTX_FAIL("key file %s is protected by a passphrase (not supported: decrypt it, e.g. openssl pkey)",
               key);
    if (!pkey)
      CTX_FAIL("cannot read key file %s: %s", key, openssl_reason());
    rc = SSL_CTX_use_PrivateKey(ctx, pkey);
    EVP_PKEY_free(pkey);
    if (rc != 1) {
      if (ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH)
        CTX_FAIL("key file %s does not match certificate %s", key, o->cert_file);
      CTX_FAIL("cannot read key file %s: %s", key, openssl_reason());
    }
    if (SSL_CTX_check_private_key(ctx) != 1)
      CTX_FAIL("key file %s does not match certificate %s", key, o->cert_file);
  } else if (o->key_file) {
    CTX_FAIL("key_file given without cert_file");
  }
  if (o->server) {
    if (!o->cert_file)
      CTX_FAIL("a TLS server needs cert_file");
    SSL_CTX_set_num_tickets(ctx, o->resume ? 1 : 0); /* stateless tickets: nothing kept per client */
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    if (o->client_ca_file) {
      if (SSL_CTX_load_verify_locations(ctx, o->client_ca_file, NULL) != 1)
        CTX_FAIL("cannot read client CA file %s: %s", o->client_ca_file, openssl_reason());
      STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->client_ca_file);
      if (names)
        SSL_CTX_set_client_CA_list(ctx, names);
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
  } else {
    SSL_CTX_set_alpn_protos(ctx, alpn_http11, sizeof(alpn_http11) - 1);
    if (o->verify) {
      if (o->ca_file) {
        if (!(bio = read_pem_file(o->ca_file, why, sizeof why)))
          CTX_FAIL("cannot read CA file %s", why);
        int rc = load_trust(ctx, bio);
        BIO_free(bio);
        if (rc != 0)
          CTX_FAIL("cannot read CA file %s: %s", o->ca_file, openssl_reason());
      } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        CTX_FAIL("cannot read CA file (system store): %s", openssl_reason());
      }
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
      SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
  }
  return ctx;
}

static bool str_eq(const char *a, const char *b) {
  return a == b || (a && b && strcmp(a, b) == 0);
}

static bool options_eq(const wsf_tls_options *a, const wsf_tls_options *b) {
  return a->server == b->server && a->verify == b->verify && a->resume == b->resume &&
         str_eq(a->ca_file, b->ca_file) && str_eq(a->cert_file, b->cert_file) &&
         str_eq(a->key_file, b->key_file) && str_eq(a->ciphers, b->ciphers) &&
         str_eq(a->client_ca_file, b->client_ca_file);
}

static const char *dup_or_null(const char *s) {
  return s ? wsf_xstrndup(s, strlen(s)) : NULL;
}

wsf_tls_config *wsf_tls_config_get(const wsf_tls_options *opts, char *err, size_t errlen) {
  for (wsf_tls_config *c = configs; c; c = c->next)
    if (options_eq(&c->opts, opts)) {
      c->refs++;
      return c;
    }
  if (!get_bio_method()) {
    snprintf(err, errlen, "cannot create BIO method");
    return NULL;
  }
  SSL_CTX *ctx = new_ctx(opts, err, errlen);
  if (!ctx)
    return NULL;
  wsf_tls_config *c = wsf_xcalloc(1, sizeof(*c));
  c->ctx = ctx;
  c->opts = *opts;
  c->opts.ca_file = dup_or_null(opts->ca_file);
  c->opts.cert_file = dup_or_null(opts->cert_file);
  c->opts.key_file = dup_or_null(opts->key_file);
  c->opts.ciphers = dup_or_null(opts->ciphers);
  c->opts.client_ca_file = dup_or_null(opts->client_ca_file);
  c->refs = 1;
  c->next = configs;
  configs = c;
  return c;
}

static void config_free(wsf_tls_config *c) {
  for (uint32_t i = 0; i < c->n_slots; i++) {
    free(c->slots[i].key);
    SSL_SESSION_free(c->slots[i].latest);
  }
  free(c->slots);
  SSL_CTX_free(c->ctx); /* sessions still open keep it alive (OpenSSL counts them) */
  free((char *)c->opts.ca_file);
  free((char *)c->opts.cert_file);
  free((char *)c->opts.key_file);
  free((char *)c->opts.ciphers);
  free((char *)c->opts.client_ca_file);
  free(c);
}

void wsf_tls_config_release(wsf_tls_config *cfg) {
  if (!cfg || --cfg->refs > 0)
    return;
  for (wsf_tls_config **p = &configs; *p; p = &(*p)->next)
    if (*p == cfg) {
      *p = cfg->next;
      break;
    }
  config_free(cfg);
}

void wsf_tls_config_free_all(void) {
  while (configs) {
    wsf_tls_config *c = configs;
    configs = c->next;
    config_free(c);
  }
  BIO_meth_free(bio_method);
  bio_method = NULL;
}

/* ---- sessions ---- */

static bool is_ip_literal(const char *host) {
  unsigned char addr[16];
  return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/* SNI carries DNS names only (RFC 6066); IP literals are verified against
 * the certificate's IP addresses instead of its DNS names. */
static int set_peer_name(SSL *ssl, const char *name, bool verify) {
  char host[256];
  size_t n = strlen(name);
  if (n >= 2 && name[0] == '[' && name[n - 1] == ']') {
    name++;
    n -= 2;
  }
  if (n == 0 || n >= sizeof(host))
    return UV_EINVAL;
  memcpy(host, name, n);
  host[n] = 0;
  if (is_ip_literal(host)) {
    if (verify && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1)
      return UV_EINVAL;
    return 0;
  }
  if (SSL_set_tlsext_host_name(ssl, host) != 1)
    return UV_EINVAL;
  if (verify) {
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl, host) != 1)
      return UV_EINVAL;
  }
  return 0;
}

/* Words for a failed SSL_* call, in OpenSSL's terms where it has some. */
static const char *failure_words(wsf_tls_session *s, int ssl_error) {
  if (s->io_error) {
    snprintf(detail_buf, sizeof(detail_buf), "socket write failed: %s", uv_err_name(s->io_error));
    return detail_buf;
  }
  unsigned long e = ERR_peek_error();
  if (ssl_error == SSL_ERROR_SSL && ERR_GET_LIB(e) == ERR_LIB_SSL &&
      ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    snprintf(detail_buf, sizeof(detail_buf), "certificate verify failed: %s",
             X509_verify_cert_error_string(SSL_get_verify_result(s->ssl)));
    return detail_buf;
  }
  if (e) {
    snprintf(detail_buf, sizeof(detail_buf), "%s", openssl_reason());
    return detail_buf;
  }
  return ssl_error == SSL_ERROR_SYSCALL ? "unexpected eof while reading" : "TLS failure";
}

static void handshake_failed(wsf_tls_session *s, const char *detail) {
  s->failed = 1;
  s->base.io->ready(s->base.t, false, detail); /* the one word on this stream's end */
}

/* One handshake step: 1 done, 0 waiting for the peer, -1 failed (*detail says why). */
static int handshake_step(wsf_tls_session *s, const char **detail) {
  ERR_clear_error();
  s->io_error = 0;
  int r = SSL_do_handshake(s->ssl);
  if (r == 1) {
    s->handshake_done = 1;
    /* verified: the chain AND the name were checked (a chain alone proves
     * only that some holder of a trusted certificate answered). */
    s->verified = (SSL_get_verify_mode(s->ssl) & SSL_VERIFY_PEER) &&
                  SSL_get_verify_result(s->ssl) == X509_V_OK && SSL_get0_peer_certificate(s->ssl) &&
                  s->name_checked;
    return 1;
  }
  int e = SSL_get_error(s->ssl, r);
  if (e == SSL_ERROR_WANT_READ)
    return 0;
  s->failed = 1;
  *detail = failure_words(s, e);
  return -1;
}

/* OpenSSL 3.0 names most alerts; these TLS 1.3 ones it calls "unknown". */
static const char *alert_name(uint8_t alert) {
  switch (alert) {
  case 86:
    return "inappropriate fallback";
  case 109:
    return "missing extension";
  case 116:
    return "certificate required";
  }
  return SSL_alert_desc_string_long(alert);
}

static void session_ended(wsf_tls_session *s, int ssl_error) {
  const wsf_filter_io *io = s->base.io;
  if (ssl_error == SSL_ERROR_ZERO_RETURN) {
    io->end(s->base.t, WSF_END_TLS_CLOSE_NOTIFY, "close_notify");
    return;
  }
  s->failed = 1;
  if (s->io_error) {
    io->end(s->base.t, io->cause_of(s->io_error), uv_err_name(s->io_error));
  } else if (s->alert_received) {
    io->end(s->base.t, WSF_END_TLS_ALERT, alert_name(s->alert));
  } else {
    io->end(s->base.t, WSF_END_TLS_ERROR, failure_words(s, ssl_error));
  }
}

/* opts.resume: the gateway's slot (found, or given now while slots remain; 0
 * when none is left), keyed by the address the socket is connected to and the
 * server name. Through an HTTP proxy the address is the proxy's: gateways
 * behind one proxy under one name share a slot, and a session offered to the
 * wrong one costs a full handshake, nothing else. */
static uint8_t slot_of(wsf_tls_config *cfg, wsf_transport *t, const char *server_name) {
  struct sockaddr_storage sa;
  int sa_len = sizeof sa;
  char addr[64];
  const char *peer = uv_tcp_getpeername(&t->tcp, (struct sockaddr *)&sa, &sa_len) == 0
                         ? wsf_addr_port_text((struct sockaddr *)&sa, addr)
                         : NULL;
  char key[64 + 300];
  snprintf(key, sizeof key, "%s %s", peer ? peer : "", server_name ? server_name : "");
  for (uint32_t i = 0; i < cfg->n_slots; i++)
    if (strcmp(cfg->slots[i].key, key) == 0)
      return (uint8_t)(i + 1);
  if (cfg->n_slots == WSF_TLS_RESUME_SLOTS)
    return 0;
  if (!cfg->slots)
    cfg->slots = wsf_xcalloc(WSF_TLS_RESUME_SLOTS, sizeof *cfg->slots);
  cfg->slots[cfg->n_slots].key = wsf_xstrndup(key, strlen(key));
  return (uint8_t)++cfg->n_slots;
}
_Static_assert(WSF_TLS_RESUME_SLOTS <= UINT8_MAX, "wsf_tls_session.resume_slot is one byte");

static int session_start(wsf_transport *t, const wsf_filter_io *io, const void *params, wsf_filter **out) {
  const wsf_tls_params *p = params;
  wsf_tls_config *cfg = p->cfg;
  const char *server_name = p->server_name;
  ERR_clear_error();
  /* Both fail only out of memory (cfg->ctx is never NULL): the memory rule's
   * abort, since OpenSSL's allocator is not routed through wsf_xmalloc. */
  SSL *ssl = SSL_new(cfg->ctx);
  if (!ssl)
    wsf_out_of_memory("SSL_new");
  BIO *bio = BIO_new(bio_method);
  if (!bio)
    wsf_out_of_memory("BIO_new");
  SSL_set_bio(ssl, bio, bio); /* one BIO both ways: SSL takes its one reference */
  wsf_tls_session *s = wsf_xcalloc(1, sizeof(*s));
  s->base = (wsf_filter){.ops = &wsf_tls_filter, .io = io, .t = t};
  BIO_set_data(bio, s);
  s->ssl = ssl;
  s->cfg = cfg;
  cfg->refs++;
  SSL_set_app_data(ssl, s);
  *out = &s->base; /* from here on freed with the transport */
  if (p->server) {
    SSL_set_accept_state(ssl);
    s->name_checked = 1; /* a client certificate is checked by its chain alone */
    return 0;
  }
  SSL_set_connect_state(ssl);
  if (server_name && *server_name) {
    int r = set_peer_name(ssl, server_name, cfg->opts.verify);
    if (r < 0)
      return r;
    s->name_checked = cfg->opts.verify;
  }
  if (cfg->opts.resume && (s->resume_slot = slot_of(cfg, t, server_name)) != 0) {
    SSL_SESSION *latest = cfg->slots[s->resume_slot - 1].latest;
    if (latest && SSL_set_session(ssl, latest) != 1) /* takes its own reference */
      ERR_clear_error();                             /* a full handshake then */
  }
  const char *detail;
  if (handshake_step(s, &detail) < 0) /* sending the ClientHello failed */
    return s->io_error ? s->io_error : UV_EPROTO;
  return 0;
}

static void session_free(wsf_filter *f) {
  wsf_tls_session *s = (wsf_tls_session *)f;
  SSL_free(s->ssl); /* frees the BIO too */
  wsf_tls_config_release(s->cfg);
  free(s);
}

/* The transport's TLS session once its handshake is done, else NULL. */
static const wsf_tls_session *established(const wsf_transport *t) {
  if (!t->filter || t->filter->ops != &wsf_tls_filter)
    return NULL;
  const wsf_tls_session *s = (const wsf_tls_session *)t->filter;
  return s->handshake_done ? s : NULL;
}

/* SSL_MODE_RELEASE_BUFFERS frees the read buffer only after application
 * data; a record of another kind (a TLS 1.3 session ticket, a key update)
 * leaves its 16 KiB buffer behind on an otherwise idle connection. This
 * frees whatever is free-able; OpenSSL refuses while a record is partial. */
static void release_buffers(wsf_tls_session *s) {
  if (!s->failed)
    SSL_free_buffers(s->ssl);
}

/* Ciphertext read from the socket: drives the handshake, then delivers plaintext. */
static void on_ciphertext(wsf_filter *f, const uint8_t *data, size_t len) {
  wsf_tls_session *s = (wsf_tls_session *)f;
  const wsf_filter_io *io = f->io;
  s->in = data;
  s->in_len = len;
  if (!s->handshake_done) {
    const char *detail;
    int r = handshake_step(s, &detail);
    if (r < 0) {
      handshake_failed(s, detail);
    } else if (r > 0) {
      io->ready(f->t, true, NULL);
    }
  }
  /* The rest of this read may already hold application data. */
  while (s->handshake_done && io->live(f->t)) {
    ERR_clear_error();
    s->io_error = 0;
    int n = SSL_read(s->ssl, plain_buf, sizeof(plain_buf));
    if (n > 0) {
      io->deliver(f->t, plain_buf, (size_t)n);
      continue;
    }
    int e = SSL_get_error(s->ssl, n);
    if (e != SSL_ERROR_WANT_READ)
      session_ended(s, e);
    break;
  }
  s->in = NULL;
  s->in_len = 0;
  release_buffers(s);
}

/* The socket ended (EOF, reset, error) before or after the handshake. */
static void on_socket_end(wsf_filter *f, int uv_status) {
  wsf_tls_session *s = (wsf_tls_session *)f;
  if (s->handshake_done) {
    f->io->end(f->t, f->io->cause_of(uv_status), uv_err_name(uv_status));
    return;
  }
  if (uv_status == UV_EOF) {
    handshake_failed(s, "unexpected eof while reading");
  } else {
    snprintf(detail_buf, sizeof(detail_buf), "connection %s during handshake (%s)",
             uv_status == UV_ECONNRESET ? "reset" : "failed", uv_err_name(uv_status));
    handshake_failed(s, detail_buf);
  }
}

static int session_write(wsf_filter *f, const uint8_t *data, size_t len) {
  wsf_tls_session *s = (wsf_tls_session *)f;
  if (!s->handshake_done)
    return UV_ENOTCONN;
  if (s->shutdown_sent || s->failed)
    return UV_EPIPE;
  while (len > 0) {
    int chunk = len > INT_MAX ? INT_MAX : (int)len;
    ERR_clear_error();
    s->io_error = 0;
    int n = SSL_write(s->ssl, data, chunk);
    if (n <= 0) {
      s->failed = 1;
      return s->io_error ? s->io_error : UV_EPROTO;
    }
    data += n;
    len -= (size_t)n;
  }
  release_buffers(s);
  return 0;
}

/* Queues close_notify (once); the TCP FIN follows in transport.c. */
static void session_shutdown(wsf_filter *f) {
  wsf_tls_session *s = (wsf_tls_session *)f;
  if (!s->handshake_done || s->shutdown_sent || s->failed)
    return;
  s->shutdown_sent = 1;
  ERR_clear_error();
  SSL_shutdown(s->ssl); /* queues close_notify; we do not wait for the peer's */
}

const wsf_filter_ops wsf_tls_filter = {
    .start = session_start,
    .on_bytes = on_ciphertext,
    .on_end = on_socket_end,
    .write = session_write,
    .shutdown = session_shutdown,
    .free = session_free,
};

const char *wsf_tls_version(const struct wsf_transport *t) {
  const wsf_tls_session *s = established(t);
  return s ? SSL_get_version(s->ssl) : NULL;
}

const char *wsf_tls_cipher(const struct wsf_transport *t) {
  const wsf_tls_session *s = established(t);
  return s ? SSL_get_cipher_name(s->ssl) : NULL;
}

bool wsf_tls_verified(const struct wsf_transport *t) {
  const wsf_tls_session *s = established(t);
  return s && s->verified;
}

bool wsf_tls_resumed(const struct wsf_transport *t) {
  const wsf_tls_session *s = established(t);
  return s && SSL_session_reused(s->ssl);
}
