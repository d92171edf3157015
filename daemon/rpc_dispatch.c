/* Requests to method groups: the method table (RPC_METHODS) and the check
 * every request passes first (the client's unread output). */
#include "rpc_internal.h"

#include <stdio.h>
#include <string.h>

const rpc_method rpc_methods[] = {
#define X(name, fn, starts) {#name, sizeof #name - 1, fn, starts},
    RPC_METHODS(X)
#undef X
};
const size_t rpc_method_count = WSF_ARRAY_LEN(rpc_methods);

void rpc_dispatch(wsf_ctl *ctl, const wsf_rpc_request *req) {
  req_ctx r = {ctl, ctl->d, req->msgid, req->params};
  /* Responses this client has not read, packed or queued: a client that
   * pipelines requests with large replies (list, status) and does not read
   * goes before it makes the daemon pack without bound. */
  if (ctl->out.size + ctl->write_pending > ctl->d->cfg.max_control_output_bytes) {
    ctl->d->rpc->limit_hits[CTL_MAX_CONTROL_OUTPUT_BYTES]++;
    wsf_log(WSF_LOG_WARN,
            "control client has %zu bytes of responses unread (limit max_control_output_bytes): "
            "closing it",
            ctl->out.size + ctl->write_pending);
    ctl->out.size = 0;
    rpc_ctl_close(ctl);
    return;
  }
  for (size_t i = 0; i < rpc_method_count; i++) {
    if (req->method_len == rpc_methods[i].name_len &&
        memcmp(req->method, rpc_methods[i].name, req->method_len) == 0) {
      if (ctl->d->shutting_down && rpc_methods[i].refused_while_shutting_down) {
        rpc_send_error(ctl, req->msgid, "shutting_down", "the daemon is shutting down");
        return;
      }
      rpc_methods[i].fn(&r);
      return;
    }
  }
  char msg[200];
  snprintf(msg, sizeof msg, "unknown method '%.*s'", (int)(req->method_len > 100 ? 100 : req->method_len),
           req->method);
  wsf_pack_error_begin(&ctl->pk, req->msgid, "unknown_method", msg, 1);
  wsf_pack_key(&ctl->pk, "method");
  wsf_pack_text(&ctl->pk, req->method, req->method_len);
  wsf_pack_error_end(&ctl->pk);
  rpc_ctl_done_packing(ctl);
}
