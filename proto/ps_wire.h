// Constants and helpers shared by both ends of the parameter-server wire
// protocol (docs/wire_protocol.md): the magic and version every header
// carries, the byte sizes of the bulk frames, and how a Status crosses the
// wire. The client (worker/client) and the server (ps/server) include this;
// neither includes the other.
#ifndef DIPS_PROTO_PS_WIRE_H_
#define DIPS_PROTO_PS_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "proto/ps.pb.h"

// Bulk frames are the host's arrays sent as they are; they are defined as
// little-endian, so a big-endian host would need a byte swap we do not have.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the wire format's bulk frames are little-endian");

namespace dips {

// "DIPS" as a little-endian u32: the first bytes of a well-formed header.
inline constexpr uint32_t kPsMagic = 0x53504944u;
// Bumped on any incompatible change to headers or frame layout. A server
// answers any other version with FailedPrecondition and serves nothing.
inline constexpr uint32_t kPsProtocolVersion = 2;

inline constexpr size_t kKeyBytes = sizeof(uint64_t);
inline constexpr size_t kValueBytes = sizeof(float);
inline constexpr size_t kCountBytes = sizeof(uint64_t);
inline constexpr size_t kOccurrenceBytes = sizeof(uint32_t);

// Z85 text of a CURVE key (32 bytes -> 40 characters).
inline constexpr size_t kCurveKeyTextLength = 40;
// The password of a server's Unix socket (ZeroMQ PLAIN), in bytes: at
// least 32, and ZeroMQ's PLAIN mechanism carries at most 255.
inline constexpr size_t kMinLocalPasswordBytes = 32;
inline constexpr size_t kMaxLocalPasswordBytes = 255;
inline bool ValidLocalPassword(const std::string& password) {
  return password.size() >= kMinLocalPasswordBytes && password.size() <= kMaxLocalPasswordBytes;
}

// Writes `status` into a response header (code 0 and no message for OK).
void SetWireStatus(const Status& status, wire::ResponseHeader* header);
// The status a response header carries. A code we do not know becomes
// Corruption: the peer speaks a dialect we cannot trust.
Status WireStatus(const wire::ResponseHeader& header);

const char* RequestKindName(wire::RequestKind kind);

}  // namespace dips

#endif  // DIPS_PROTO_PS_WIRE_H_
