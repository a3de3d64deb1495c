// Durable file helpers for checkpoints: atomic replacement (temp file,
// fsync, rename, fsync of the directory), whole-file digests, and the
// envelope every checkpoint Protobuf file is wrapped in:
//
//   offset  size  field
//   0       8     magic "DIPSMSG1"
//   8       8     payload length n (u64, little-endian)
//   16      n     serialized message
//   16+n    4     zlib CRC-32 of the payload (u32, little-endian)
//
// A file that is short, long, mis-tagged or whose CRC does not match is
// Corruption naming the file; nothing is parsed from it.
#ifndef DIPS_PS_CHECKPOINT_FILE_IO_H_
#define DIPS_PS_CHECKPOINT_FILE_IO_H_

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include <google/protobuf/message_lite.h>

#include "common/status.h"

namespace dips {

// Fixed-width fields of binary file headers, little-endian (DIPS builds only
// for little-endian hosts), at any alignment.
template <typename T>
void PutField(char* out, size_t offset, T value) {
  std::memcpy(out + offset, &value, sizeof(T));
}
template <typename T>
T GetField(const char* in, size_t offset) {
  T value;
  std::memcpy(&value, in + offset, sizeof(T));
  return value;
}

// A FILE* closed when it goes out of scope.
struct FileCloser {
  void operator()(FILE* f) const {
    if (f != nullptr) std::fclose(f);
  }
};
using UniqueFile = std::unique_ptr<FILE, FileCloser>;

struct FileDigest {
  uint64_t bytes = 0;
  uint32_t crc32 = 0;  // zlib CRC-32 of all bytes
};

// Size and CRC-32 of the file, streamed. NotFound or IOError on I/O errors.
StatusOr<FileDigest> DigestFile(const std::string& path);

// Corruption naming the file unless its size and CRC are `want`.
Status VerifyFileDigest(const std::string& path, const FileDigest& want);

// Writes `bytes` to path + ".tmp", fsyncs it, renames it over `path` and
// fsyncs the directory: afterwards `path` holds either its old content or
// all of `bytes`, also after a crash.
Status WriteFileAtomically(const std::string& path, const std::string& bytes);

// Flushes a file's data or a directory's entries to stable storage.
Status FsyncPath(const std::string& path);

// mkdir -p.
Status MakeDirs(const std::string& path);

// The envelope above, written atomically; returns the file's digest.
StatusOr<FileDigest> WriteProtoFile(const std::string& path,
                                    const google::protobuf::MessageLite& message);
// Reads and checks the envelope, then parses. Corruption for any mismatch.
Status ReadProtoFile(const std::string& path, google::protobuf::MessageLite* message);

}  // namespace dips

#endif  // DIPS_PS_CHECKPOINT_FILE_IO_H_
