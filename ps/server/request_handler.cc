#include "ps/server/request_handler.h"

#include <cstring>
#include <string>
#include <utility>

#include "ps/checkpoint/checkpoint.h"
#include "ps/checkpoint/row_file.h"

namespace dips {
namespace {

zmq::message_t SerializeHeader(const wire::ResponseHeader& header) {
  zmq::message_t frame(header.ByteSizeLong());
  CHECK(header.SerializeToArray(frame.data(), static_cast<int>(frame.size())));
  return frame;
}

std::string FrameCountError(const char* kind, size_t expected, size_t got) {
  return std::string(kind) + " expects " + std::to_string(expected) +
         " frames after the identity, got " + std::to_string(got);
}

// Checks that `frame` holds exactly `count` elements of `width` bytes. Divides
// rather than multiplies: `count` comes from the peer and count * width may
// wrap around (n = 2^61 keys "fit" in an empty frame).
Status CheckFrameElements(const zmq::message_t& frame, uint64_t count, uint64_t width,
                          const char* what) {
  if (frame.size() % width != 0 || frame.size() / width != count) {
    return InvalidArgumentError(std::string(what) + " frame has " + std::to_string(frame.size()) +
                                " bytes, header implies " + std::to_string(count) + " x " +
                                std::to_string(width));
  }
  return Status::OK();
}

// A frame's bytes as an array of T. ZeroMQ keeps small messages inside the
// message object, where they may be misaligned for T; those are copied into
// `scratch` (they are small by definition).
template <typename T>
const T* AlignedView(const zmq::message_t& frame, std::vector<T>* scratch) {
  if (reinterpret_cast<uintptr_t>(frame.data()) % alignof(T) == 0) {
    return static_cast<const T*>(frame.data());
  }
  scratch->resize(frame.size() / sizeof(T));
  std::memcpy(scratch->data(), frame.data(), scratch->size() * sizeof(T));
  return scratch->data();
}

}  // namespace

PsServerCounters ServerCounterCells::Snapshot() const {
  PsServerCounters c;
  c.requests_served = requests_served.load(std::memory_order_relaxed);
  c.requests_rejected = requests_rejected.load(std::memory_order_relaxed);
  c.handshake_failures = handshake_failures.load(std::memory_order_relaxed);
  c.auth_denied = auth_denied.load(std::memory_order_relaxed);
  return c;
}

RequestHandler::RequestHandler(SparseTable* table, const PsServerOptions& options,
                               ServerCounterCells* counters)
    : table_(table),
      expected_clients_(options.expected_clients),
      max_reply_bytes_(options.max_message_bytes),
      options_(options),
      counters_(counters) {}

bool RequestHandler::MayRunLong(const Multipart& request) const {
  if (request.size() < 2) return false;
  wire::RequestHeader header;
  // A header that does not parse gets a quick error reply.
  if (!header.ParseFromArray(request[1].data(), static_cast<int>(request[1].size()))) {
    return false;
  }
  switch (header.kind()) {
    case wire::CHECKPOINT:
      return true;
    case wire::PULL:
    case wire::PUSH:
    case wire::PUSH_PULL:
      return table_->has_disk_tier();
    default:
      return false;
  }
}

bool RequestHandler::Handle(Multipart& request, std::vector<Multipart>* out) {
  if (request.size() < 2) {
    // Nothing to answer: without a header we cannot even name the request.
    counters_->requests_rejected.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  zmq::message_t& identity = request[0];
  const zmq::message_t& header_frame = request[1];
  wire::RequestHeader header;
  wire::ResponseHeader response;
  response.set_magic(kPsMagic);
  response.set_version(kPsProtocolVersion);
  response.set_dim(static_cast<uint32_t>(table_->dim()));

  Multipart reply;
  reply.emplace_back();  // identity, filled in below
  reply.emplace_back();  // response header
  Status status;
  bool stop = false;
  bool parked = false;
  if (!header.ParseFromArray(header_frame.data(), static_cast<int>(header_frame.size()))) {
    status = CorruptionError("header frame (" + std::to_string(header_frame.size()) +
                             " bytes) is not a RequestHeader");
  } else if (header.magic() != kPsMagic) {
    status = CorruptionError("bad magic " + std::to_string(header.magic()));
  } else if (header.version() != kPsProtocolVersion) {
    status = FailedPreconditionError("protocol version " + std::to_string(header.version()) +
                                     " not supported; this server speaks " +
                                     std::to_string(kPsProtocolVersion));
  } else {
    response.set_kind(header.kind());
    response.set_request_id(header.request_id());
    const size_t frames = request.size() - 1;
    switch (header.kind()) {
      case wire::PULL:
        status = Pull(header, request, &reply);
        if (status.ok()) response.set_num_keys(header.num_keys());
        break;
      case wire::PUSH:
        status = Push(header, request);
        break;
      case wire::PUSH_PULL:
        status = PushPull(header, request, &reply);
        if (status.ok()) response.set_num_keys(header.num_pull_keys());
        break;
      case wire::STATS:
        status = frames == 1 ? Status::OK()
                             : InvalidArgumentError(FrameCountError("STATS", 1, frames));
        if (status.ok()) FillStats(&response);
        break;
      case wire::BARRIER:
        status = frames == 1 ? Status::OK()
                             : InvalidArgumentError(FrameCountError("BARRIER", 1, frames));
        if (status.ok()) {
          status = Barrier(header, identity, response, out);
          parked = status.ok();
        }
        break;
      case wire::SHUTDOWN:
        status = frames == 1 ? Status::OK()
                             : InvalidArgumentError(FrameCountError("SHUTDOWN", 1, frames));
        if (status.ok()) stop = RecordShutdown(header.client_id());
        break;
      case wire::CHECKPOINT:
        status = frames == 1 ? Status::OK()
                             : InvalidArgumentError(FrameCountError("CHECKPOINT", 1, frames));
        if (status.ok()) status = Checkpoint(header, &response);
        break;
      default:
        status = InvalidArgumentError("unknown request kind " +
                                      std::to_string(static_cast<int>(header.kind())));
    }
  }
  (status.ok() ? counters_->requests_served : counters_->requests_rejected)
      .fetch_add(1, std::memory_order_relaxed);
  if (parked) return stop;  // Barrier answered (or parked) the request itself
  if (!status.ok()) reply.resize(2);  // an error reply carries no bulk frames
  SetWireStatus(status, &response);
  reply[0] = std::move(identity);
  reply[1] = SerializeHeader(response);
  out->push_back(std::move(reply));
  return stop;
}

Status RequestHandler::CheckDim(const wire::RequestHeader& header) const {
  if (header.dim() != static_cast<uint32_t>(table_->dim())) {
    return InvalidArgumentError("request dim " + std::to_string(header.dim()) +
                                " != table dim " + std::to_string(table_->dim()));
  }
  return Status::OK();
}

Status RequestHandler::CheckPull(const wire::RequestHeader& header, uint64_t n,
                                 const zmq::message_t& keys) const {
  // Once the keys frame matches, n <= max message bytes / 8 and dim <=
  // kMaxSparseDim, so the products below cannot overflow.
  RETURN_IF_ERROR(CheckFrameElements(keys, n, kKeyBytes, "keys"));
  const uint64_t value_bytes = n * header.dim() * kValueBytes;
  const uint64_t count_bytes = header.want_counts() ? n * kCountBytes : 0;
  if (value_bytes + count_bytes > static_cast<uint64_t>(max_reply_bytes_)) {
    return ResourceExhaustedError("reply of " + std::to_string(value_bytes + count_bytes) +
                                  " bytes exceeds the server's limit of " +
                                  std::to_string(max_reply_bytes_));
  }
  return Status::OK();
}

Status RequestHandler::ReadRows(const wire::RequestHeader& header, uint64_t n,
                                const zmq::message_t& keys_frame, Multipart* reply) {
  const uint64_t value_bytes = n * header.dim() * kValueBytes;
  const uint64_t count_bytes = header.want_counts() ? n * kCountBytes : 0;
  std::vector<uint64_t> key_scratch;
  const uint64_t* keys = AlignedView(keys_frame, &key_scratch);
  zmq::message_t values(value_bytes);
  zmq::message_t counts(count_bytes);
  // Fresh frames of these sizes are heap blocks (aligned) except tiny ones,
  // which go through scratch buffers.
  std::vector<float> value_scratch;
  std::vector<uint64_t> count_scratch;
  float* value_out = static_cast<float*>(values.data());
  uint64_t* count_out = header.want_counts() ? static_cast<uint64_t*>(counts.data()) : nullptr;
  const bool values_aligned = reinterpret_cast<uintptr_t>(value_out) % alignof(float) == 0;
  const bool counts_aligned =
      count_out == nullptr || reinterpret_cast<uintptr_t>(count_out) % alignof(uint64_t) == 0;
  if (!values_aligned) {
    value_scratch.resize(n * header.dim());
    value_out = value_scratch.data();
  }
  if (!counts_aligned) {
    count_scratch.resize(n);
    count_out = count_scratch.data();
  }
  RETURN_IF_ERROR(table_->Pull(keys, n, header.create_missing(), value_out, count_out));
  if (!values_aligned) std::memcpy(values.data(), value_scratch.data(), value_bytes);
  if (!counts_aligned) std::memcpy(counts.data(), count_scratch.data(), count_bytes);
  reply->push_back(std::move(values));
  if (header.want_counts()) reply->push_back(std::move(counts));
  return Status::OK();
}

Status RequestHandler::CheckPush(const wire::RequestHeader& header,
                                 const Multipart& request) const {
  const uint64_t n = header.num_keys();
  RETURN_IF_ERROR(CheckFrameElements(request[2], n, kKeyBytes, "keys"));
  const uint64_t row_bytes = uint64_t{header.dim()} * kValueBytes;
  RETURN_IF_ERROR(CheckFrameElements(request[3], n, row_bytes, "gradients"));
  if (header.has_occurrences()) {
    RETURN_IF_ERROR(CheckFrameElements(request[4], n, kOccurrenceBytes, "occurrences"));
  }
  return Status::OK();
}

Status RequestHandler::ApplyPush(const wire::RequestHeader& header, const Multipart& request) {
  std::vector<uint64_t> key_scratch;
  std::vector<float> grad_scratch;
  std::vector<uint32_t> occurrence_scratch;
  const uint64_t* keys = AlignedView(request[2], &key_scratch);
  const float* grads = AlignedView(request[3], &grad_scratch);
  const uint32_t* occurrences =
      header.has_occurrences() ? AlignedView(request[4], &occurrence_scratch) : nullptr;
  return table_->Push(keys, header.num_keys(), grads, occurrences, header.step());
}

Status RequestHandler::Pull(const wire::RequestHeader& header, Multipart& request,
                            Multipart* reply) {
  const size_t frames = request.size() - 1;
  if (frames != 2) return InvalidArgumentError(FrameCountError("PULL", 2, frames));
  RETURN_IF_ERROR(CheckDim(header));
  RETURN_IF_ERROR(CheckPull(header, header.num_keys(), request[2]));
  return ReadRows(header, header.num_keys(), request[2], reply);
}

Status RequestHandler::Push(const wire::RequestHeader& header, Multipart& request) {
  const size_t frames = request.size() - 1;
  const size_t expected = header.has_occurrences() ? 4 : 3;
  if (frames != expected) return InvalidArgumentError(FrameCountError("PUSH", expected, frames));
  RETURN_IF_ERROR(CheckDim(header));
  RETURN_IF_ERROR(CheckPush(header, request));
  return ApplyPush(header, request);
}

Status RequestHandler::PushPull(const wire::RequestHeader& header, Multipart& request,
                                Multipart* reply) {
  const size_t frames = request.size() - 1;
  const size_t expected = header.has_occurrences() ? 5 : 4;
  if (frames != expected) {
    return InvalidArgumentError(FrameCountError("PUSH_PULL", expected, frames));
  }
  RETURN_IF_ERROR(CheckDim(header));
  // Both halves are checked before the push touches the table, so a
  // malformed request changes nothing.
  RETURN_IF_ERROR(CheckPush(header, request));
  const zmq::message_t& pull_keys = request.back();
  RETURN_IF_ERROR(CheckPull(header, header.num_pull_keys(), pull_keys));
  RETURN_IF_ERROR(ApplyPush(header, request));
  return ReadRows(header, header.num_pull_keys(), pull_keys, reply);
}

void RequestHandler::FillStats(wire::ResponseHeader* response) const {
  const SparseTableStats table = table_->Stats();
  wire::TableStats* t = response->mutable_table_stats();
  t->set_rows(table.rows);
  t->set_bytes(table.bytes);
  t->set_pulls(table.pulls);
  t->set_pushes(table.pushes);
  t->set_rows_created(table.rows_created);
  t->set_rows_in_memory(table.rows_in_memory);
  t->set_rows_on_disk(table.rows_on_disk);
  t->set_disk_bytes(table.disk_bytes);
  t->set_memory_hits(table.memory_hits);
  t->set_memory_misses(table.memory_misses);
  t->set_disk_loads(table.disk_loads);
  t->set_spills(table.spills);
  t->set_admissions(table.admissions);
  t->set_unadmitted_pulls(table.unadmitted_pulls);
  t->set_unadmitted_pushes(table.unadmitted_pushes);
  t->set_evictions(table.evictions);
  t->set_shrink_passes(table.shrink_passes);
  t->set_latest_step(table.latest_step);
  // The STATS request itself is counted as served once the reply is built.
  const PsServerCounters c = counters_->Snapshot();
  wire::ServerCounters* s = response->mutable_counters();
  s->set_requests_served(c.requests_served);
  s->set_requests_rejected(c.requests_rejected);
  s->set_handshake_failures(c.handshake_failures);
  s->set_auth_denied(c.auth_denied);
}

Status RequestHandler::Checkpoint(const wire::RequestHeader& header,
                                  wire::ResponseHeader* response) {
  if (options_.checkpoint_root.empty()) {
    return FailedPreconditionError("this server has no checkpoint directory");
  }
  // Only a checkpoint name, never a path: a client cannot make the server
  // write outside its checkpoint root.
  const std::string& name = header.checkpoint_name();
  if (name.size() != 17 || name.compare(0, 5, "ckpt-") != 0 ||
      name.find_first_not_of("0123456789", 5) != std::string::npos ||
      CheckpointName(std::stoll(name.substr(5))) != name) {
    return InvalidArgumentError("bad checkpoint name '" + name + "'");
  }
  const std::string dir = JoinPath(options_.checkpoint_root, name);
  RETURN_IF_ERROR(MakeDirs(dir));
  ShardCheckpointOptions shard_options;
  shard_options.optimizer = options_.table_optimizer;
  shard_options.since_step = header.since_step();
  shard_options.shard_index = options_.shard_index;
  shard_options.num_shards = options_.num_shards;
  ASSIGN_OR_RETURN(ShardCheckpoint shard, checkpoint_writer_.Write(table_, shard_options, dir));
  wire::ShardCheckpoint* out = response->mutable_shard_checkpoint();
  out->set_rocksdb_dir(shard.rocksdb_dir);
  out->set_column_family(shard.column_family);
  out->set_rows(shard.rows);
  uint64_t bytes = 0;
  for (const ShardCheckpointFile& file : shard.files) {
    wire::ShardFile* f = out->add_files();
    f->set_name(file.name);
    f->set_bytes(file.digest.bytes);
    f->set_crc32(file.digest.crc32);
    f->set_rows(file.rows);
    bytes += file.digest.bytes;
  }
  LOG(INFO) << "shard " << options_.shard_index << " wrote " << shard.rows << " rows ("
            << shard.files.size() << " files, " << bytes << " bytes"
            << (shard.self_contained() ? ", RocksDB checkpoint" : "") << ") to " << dir;
  return Status::OK();
}

Status RequestHandler::Barrier(const wire::RequestHeader& header, zmq::message_t& identity,
                               const wire::ResponseHeader& response,
                               std::vector<Multipart>* out) {
  wire::ResponseHeader ok = response;
  SetWireStatus(Status::OK(), &ok);
  Multipart parked;
  parked.push_back(std::move(identity));
  parked.push_back(SerializeHeader(ok));
  std::lock_guard<std::mutex> lock(mu_);
  if (!barrier_clients_.insert(header.client_id()).second) {
    identity = std::move(parked[0]);  // give it back for the error reply
    return FailedPreconditionError("client " + std::to_string(header.client_id()) +
                                   " is already waiting in this barrier");
  }
  barrier_replies_.push_back(std::move(parked));
  if (static_cast<int>(barrier_clients_.size()) >= expected_clients_) {
    for (Multipart& m : barrier_replies_) out->push_back(std::move(m));
    barrier_replies_.clear();
    barrier_clients_.clear();
  }
  return Status::OK();
}

bool RequestHandler::RecordShutdown(uint32_t client_id) {
  std::lock_guard<std::mutex> lock(mu_);
  shutdown_clients_.insert(client_id);
  return static_cast<int>(shutdown_clients_.size()) >= expected_clients_;
}

}  // namespace dips
