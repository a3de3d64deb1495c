#include "proto/ps_wire.h"

#include <string>

namespace dips {

void SetWireStatus(const Status& status, wire::ResponseHeader* header) {
  header->set_status_code(static_cast<int32_t>(status.code()));
  if (status.ok()) {
    header->clear_status_message();
  } else {
    header->set_status_message(status.message());
  }
}

Status WireStatus(const wire::ResponseHeader& header) {
  const int32_t code = header.status_code();
  if (code == 0) return Status::OK();
  if (code < 0 || code > static_cast<int32_t>(StatusCode::kInternal)) {
    return CorruptionError("reply carries unknown status code " + std::to_string(code) +
                           ": " + header.status_message());
  }
  return Status(static_cast<StatusCode>(code), header.status_message());
}

const char* RequestKindName(wire::RequestKind kind) {
  switch (kind) {
    case wire::PULL: return "PULL";
    case wire::PUSH: return "PUSH";
    case wire::STATS: return "STATS";
    case wire::BARRIER: return "BARRIER";
    case wire::SHUTDOWN: return "SHUTDOWN";
    case wire::CHECKPOINT: return "CHECKPOINT";
    case wire::PUSH_PULL: return "PUSH_PULL";
    default: return "UNSPECIFIED";
  }
}

}  // namespace dips
