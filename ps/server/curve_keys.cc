#include "ps/server/curve_keys.h"

#include <zmq.h>

#include <cstdint>

#include "proto/ps_wire.h"

namespace dips {

StatusOr<CurveKeyPair> GenerateCurveKeyPair() {
  if (!zmq_has("curve")) {
    return FailedPreconditionError("libzmq was built without CURVE support");
  }
  char public_key[kCurveKeyTextLength + 1];
  char secret_key[kCurveKeyTextLength + 1];
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    return InternalError(std::string("zmq_curve_keypair: ") + zmq_strerror(zmq_errno()));
  }
  return CurveKeyPair{std::string(public_key, kCurveKeyTextLength),
                      std::string(secret_key, kCurveKeyTextLength)};
}

Status ValidateCurveKey(const std::string& key, const char* what) {
  if (key.size() != kCurveKeyTextLength) {
    return InvalidArgumentError(std::string(what) + " must be 40 characters of Z85, got " +
                                std::to_string(key.size()) + " characters");
  }
  uint8_t binary[32];
  if (zmq_z85_decode(binary, key.c_str()) == nullptr) {
    return InvalidArgumentError(std::string(what) + " is not valid Z85");
  }
  return Status::OK();
}

Status ValidateCurveKeyPair(const CurveKeyPair& pair) {
  RETURN_IF_ERROR(ValidateCurveKey(pair.public_key, "CURVE public key"));
  RETURN_IF_ERROR(ValidateCurveKey(pair.secret_key, "CURVE secret key"));
  char derived[kCurveKeyTextLength + 1];
  if (zmq_curve_public(derived, pair.secret_key.c_str()) != 0) {
    return InvalidArgumentError("cannot derive a public key from the CURVE secret key");
  }
  if (pair.public_key != std::string(derived, kCurveKeyTextLength)) {
    return InvalidArgumentError("CURVE public key does not belong to the secret key");
  }
  return Status::OK();
}

}  // namespace dips
