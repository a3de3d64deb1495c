// CURVE key pairs for the parameter-server transport. A job makes one server
// key pair and one client key pair at start (rank 0), hands them to its ranks
// over MPI, and nothing else can talk to its servers: a client must know the
// server's public key to finish the handshake, and the server admits only the
// job's client public key (see docs/wire_protocol.md, "Security").
#ifndef DIPS_PS_SERVER_CURVE_KEYS_H_
#define DIPS_PS_SERVER_CURVE_KEYS_H_

#include <string>

#include "common/status.h"

namespace dips {

// Both keys as 40-character Z85 text (the form ZeroMQ's socket options take).
struct CurveKeyPair {
  std::string public_key;
  std::string secret_key;
};

// A fresh key pair from libsodium's CSPRNG (via zmq_curve_keypair).
// FailedPrecondition when libzmq was built without CURVE.
StatusOr<CurveKeyPair> GenerateCurveKeyPair();

// InvalidArgument unless `key` is 40 characters of valid Z85. `what` names
// the key in the message ("server public key").
Status ValidateCurveKey(const std::string& key, const char* what);

// InvalidArgument unless both keys are valid and `public_key` is the one
// `secret_key` implies.
Status ValidateCurveKeyPair(const CurveKeyPair& pair);

}  // namespace dips

#endif  // DIPS_PS_SERVER_CURVE_KEYS_H_
