#include "ps/checkpoint/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

namespace dips {
namespace {

constexpr char kEnvelopeMagic[8] = {'D', 'I', 'P', 'S', 'M', 'S', 'G', '1'};
constexpr size_t kEnvelopeHeader = 16;
constexpr size_t kEnvelopeTrailer = 4;

Status ErrnoError(const std::string& what, const std::string& path) {
  const int err = errno;
  const std::string message = what + " " + path + ": " + std::strerror(err);
  return err == ENOENT ? NotFoundError(message) : IOError(message);
}

std::string DirName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

void PutU64(uint64_t v, char* out) { std::memcpy(out, &v, 8); }
void PutU32(uint32_t v, char* out) { std::memcpy(out, &v, 4); }

}  // namespace

StatusOr<FileDigest> DigestFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path);
  FileDigest digest;
  uLong crc = crc32(0L, Z_NULL, 0);
  std::vector<unsigned char> buffer(1 << 20);
  while (true) {
    const ssize_t got = ::read(fd, buffer.data(), buffer.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      Status error = ErrnoError("cannot read", path);
      ::close(fd);
      return error;
    }
    if (got == 0) break;
    crc = crc32(crc, buffer.data(), static_cast<uInt>(got));
    digest.bytes += static_cast<uint64_t>(got);
  }
  ::close(fd);
  digest.crc32 = static_cast<uint32_t>(crc);
  return digest;
}

Status VerifyFileDigest(const std::string& path, const FileDigest& want) {
  StatusOr<FileDigest> got = DigestFile(path);
  if (!got.ok()) {
    return CorruptionError("checkpoint file unreadable: " + got.status().ToString());
  }
  if (got->bytes != want.bytes) {
    return CorruptionError("checkpoint file " + path + " has " + std::to_string(got->bytes) +
                         " bytes; the manifest says " + std::to_string(want.bytes) +
                         " (truncated or overwritten)");
  }
  if (got->crc32 != want.crc32) {
    return CorruptionError("checkpoint file " + path + " fails its CRC-32 check (corrupt)");
  }
  return Status::OK();
}

Status FsyncPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open for fsync", path);
  const int rc = ::fsync(fd);
  Status status = rc == 0 ? Status::OK() : ErrnoError("fsync failed for", path);
  ::close(fd);
  return status;
}

Status MakeDirs(const std::string& path) {
  if (path.empty()) return InvalidArgumentError("empty directory path");
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    const std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0750) != 0 && errno != EEXIST) {
      return ErrnoError("cannot create directory", prefix);
    }
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return IOError("not a directory: " + path);
  }
  return Status::OK();
}

Status WriteFileAtomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return ErrnoError("cannot create", tmp);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t wrote = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (wrote < 0) {
      if (errno == EINTR) continue;
      Status error = ErrnoError("cannot write", tmp);
      ::close(fd);
      return error;
    }
    done += static_cast<size_t>(wrote);
  }
  if (::fsync(fd) != 0) {
    Status error = ErrnoError("fsync failed for", tmp);
    ::close(fd);
    return error;
  }
  if (::close(fd) != 0) return ErrnoError("cannot close", tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError("cannot rename onto", path);
  return FsyncPath(DirName(path));
}

StatusOr<FileDigest> WriteProtoFile(const std::string& path,
                                    const google::protobuf::MessageLite& message) {
  std::string payload;
  if (!message.SerializeToString(&payload)) {
    return InternalError("cannot serialize " + message.GetTypeName() + " for " + path);
  }
  std::string bytes(kEnvelopeHeader + payload.size() + kEnvelopeTrailer, '\0');
  std::memcpy(&bytes[0], kEnvelopeMagic, sizeof(kEnvelopeMagic));
  PutU64(payload.size(), &bytes[8]);
  std::memcpy(&bytes[kEnvelopeHeader], payload.data(), payload.size());
  const uint32_t crc = static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size())));
  PutU32(crc, &bytes[kEnvelopeHeader + payload.size()]);
  RETURN_IF_ERROR(WriteFileAtomically(path, bytes));
  FileDigest digest;
  digest.bytes = bytes.size();
  digest.crc32 = static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
  return digest;
}

Status ReadProtoFile(const std::string& path, google::protobuf::MessageLite* message) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError("cannot open", path);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return ErrnoError("cannot read", path);
  if (bytes.size() < kEnvelopeHeader + kEnvelopeTrailer ||
      std::memcmp(bytes.data(), kEnvelopeMagic, sizeof(kEnvelopeMagic)) != 0) {
    return CorruptionError(path + " is not a DIPS checkpoint message (bad magic or too short)");
  }
  uint64_t length;
  std::memcpy(&length, &bytes[8], 8);
  if (length != bytes.size() - kEnvelopeHeader - kEnvelopeTrailer) {
    return CorruptionError(path + " is truncated or has trailing bytes: payload length " +
                         std::to_string(length) + ", file " + std::to_string(bytes.size()) +
                         " bytes");
  }
  uint32_t want_crc;
  std::memcpy(&want_crc, &bytes[kEnvelopeHeader + length], 4);
  const uint32_t crc = static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(&bytes[kEnvelopeHeader]),
            static_cast<uInt>(length)));
  if (crc != want_crc) return CorruptionError(path + " fails its CRC-32 check (corrupt)");
  if (!message->ParseFromArray(&bytes[kEnvelopeHeader], static_cast<int>(length))) {
    return CorruptionError(path + " does not parse as " + message->GetTypeName());
  }
  return Status::OK();
}

}  // namespace dips
