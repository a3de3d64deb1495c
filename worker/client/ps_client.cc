#include "worker/client/ps_client.h"

#include <zmq.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <utility>

#include "proto/ps_wire.h"
#include "worker/client/client_io.h"
#include "worker/client/ticket_book.h"

namespace dips {
namespace {

Status ValidateKey(const std::string& key, const char* what) {
  uint8_t binary[32];
  if (key.size() != kCurveKeyTextLength || zmq_z85_decode(binary, key.c_str()) == nullptr) {
    return InvalidArgumentError(std::string(what) + " must be 40 characters of Z85");
  }
  return Status::OK();
}

zmq::message_t HeaderFrame(const wire::RequestHeader& header) {
  zmq::message_t frame(header.ByteSizeLong());
  CHECK(header.SerializeToArray(frame.data(), static_cast<int>(frame.size())));
  return frame;
}

// Copies the elements of `src` (each `width` bytes) named by `positions`
// (the first n of them, in order, when `positions` is null) into a new frame.
zmq::message_t GatherFrame(const void* src, size_t width, size_t n, const uint32_t* positions) {
  zmq::message_t frame(n * width);
  char* out = static_cast<char*>(frame.data());
  const char* in = static_cast<const char*>(src);
  if (positions == nullptr) {
    std::memcpy(out, in, n * width);
  } else {
    for (size_t j = 0; j < n; ++j) std::memcpy(out + j * width, in + positions[j] * width, width);
  }
  return frame;
}

class PsClientImpl : public PsClient {
 public:
  explicit PsClientImpl(const PsClientOptions& options)
      : options_(options), partitioner_(options.partitioner), io_(options, &tickets_) {
    if (partitioner_ == nullptr) {
      partitioner_ = std::make_shared<HashPartitioner>(
          static_cast<int>(options.server_endpoints.size()));
    }
  }

  Status Start() { return io_.Start(); }

  int num_shards() const override { return partitioner_->num_shards(); }
  const std::string& endpoint(int shard) const override {
    return options_.server_endpoints.at(shard);
  }

  Ticket Pull(const uint64_t* keys, size_t n, bool create_missing, float* values,
              uint64_t* counts) override;
  Ticket Push(const uint64_t* keys, size_t n, const float* grads, const uint32_t* occurrences,
              int64_t step) override;
  PushPullTickets PushThenPull(const PushArgs& push, const PullArgs& pull) override;
  Status Wait(Ticket ticket) override { return tickets_.Wait(ticket); }
  StatusOr<ShardStats> Stats(int shard) override;
  Status Barrier() override;
  Status Shutdown() override;
  StatusOr<std::vector<ShardCheckpointReply>> Checkpoint(const std::string& name,
                                                        int64_t since_step,
                                                        int64_t timeout_ms) override;

 private:
  // Per shard, the positions (into the caller's arrays) of its keys. When
  // every key lands on one shard its list stays empty, meaning "all, in
  // order", and no gathering or scattering is needed.
  std::vector<std::vector<uint32_t>> Split(const uint64_t* keys, size_t n,
                                           std::vector<size_t>* shard_sizes) const;
  // One request's share of a shard's keys: [begin, end) of that shard's
  // list (of positions, or of all keys when the list is empty).
  struct Part {
    int shard;
    size_t begin, end;
  };
  // The parts a pull or push goes out in: each shard's keys, cut into
  // pieces of at most options_.max_keys_per_request.
  std::vector<Part> Parts(const std::vector<size_t>& shard_sizes) const;
  wire::RequestHeader NewHeader(wire::RequestKind kind, uint64_t request_id) const;
  // A part's header fields and bulk frames (after the header, which
  // PutHeaderFirst adds last), and for a pull where its reply goes. A pull
  // part may take its shard's positions (moved when it is all of them).
  void AddPullPart(const PullArgs& pull, const Part& part, std::vector<uint32_t>& shard_positions,
                   wire::RequestHeader* header, ShardRequest* r) const;
  void AddPushPart(const PushArgs& push, const Part& part,
                   const std::vector<uint32_t>& shard_positions, wire::RequestHeader* header,
                   ShardRequest* r) const;
  // One PULL or PUSH request per part, all under `ticket`.
  void AddPulls(Ticket ticket, const PullArgs& pull, const std::vector<Part>& parts,
                std::vector<std::vector<uint32_t>>& positions,
                std::vector<ShardRequest>* requests);
  void AddPushes(Ticket ticket, const PushArgs& push, const std::vector<Part>& parts,
                 const std::vector<std::vector<uint32_t>>& positions,
                 std::vector<ShardRequest>* requests);
  ShardRequest NewRequest(Ticket ticket, int shard, wire::RequestKind kind);
  // Sends a header-only request of `kind` to `shard` and waits for it.
  Status Control(int shard, wire::RequestKind kind, ShardStats* stats);

  const PsClientOptions options_;
  std::shared_ptr<const Partitioner> partitioner_;
  TicketBook tickets_;
  std::atomic<uint64_t> next_request_id_{1};
  ClientIo io_;  // last: its thread stops before the rest is destroyed
};

std::vector<std::vector<uint32_t>> PsClientImpl::Split(const uint64_t* keys, size_t n,
                                                       std::vector<size_t>* shard_sizes) const {
  const int shards = num_shards();
  std::vector<std::vector<uint32_t>> positions(shards);
  shard_sizes->assign(shards, 0);
  if (shards == 1) {
    (*shard_sizes)[0] = n;
    return positions;
  }
  std::vector<int> owner(n);
  for (size_t i = 0; i < n; ++i) {
    owner[i] = partitioner_->Shard(keys[i]);
    CHECK(owner[i] >= 0 && owner[i] < shards) << "partitioner returned shard " << owner[i];
    ++(*shard_sizes)[owner[i]];
  }
  for (int s = 0; s < shards; ++s) positions[s].reserve((*shard_sizes)[s]);
  for (size_t i = 0; i < n; ++i) positions[owner[i]].push_back(static_cast<uint32_t>(i));
  for (int s = 0; s < shards; ++s) {
    if ((*shard_sizes)[s] == n) positions[s].clear();  // all keys, in order
  }
  return positions;
}

std::vector<PsClientImpl::Part> PsClientImpl::Parts(const std::vector<size_t>& shard_sizes) const {
  std::vector<Part> parts;
  for (int s = 0; s < num_shards(); ++s) {
    const size_t size = shard_sizes[s];
    const size_t max = options_.max_keys_per_request > 0 ? options_.max_keys_per_request : size;
    // As few parts as the limit allows, of equal size: the server's threads
    // then finish them together (10,000 keys: two of 5,000, not 8,192 and
    // 1,808).
    const size_t count = max > 0 ? (size + max - 1) / max : 0;
    const size_t piece = count > 0 ? (size + count - 1) / count : size;
    for (size_t begin = 0; begin < size; begin += piece) {
      parts.push_back(Part{s, begin, std::min(size, begin + piece)});
    }
  }
  return parts;
}

// The caller's positions of a part's keys, or null when the shard's list is
// empty (then the part is the contiguous run starting at part.begin).
const uint32_t* PartPositions(const std::vector<uint32_t>& shard_positions, size_t begin) {
  return shard_positions.empty() ? nullptr : shard_positions.data() + begin;
}

wire::RequestHeader PsClientImpl::NewHeader(wire::RequestKind kind, uint64_t request_id) const {
  wire::RequestHeader header;
  header.set_magic(kPsMagic);
  header.set_version(kPsProtocolVersion);
  header.set_kind(kind);
  header.set_request_id(request_id);
  header.set_client_id(options_.client_id);
  header.set_dim(static_cast<uint32_t>(options_.dim));
  return header;
}

ShardRequest PsClientImpl::NewRequest(Ticket ticket, int shard, wire::RequestKind kind) {
  ShardRequest r;
  r.ticket = ticket;
  r.shard = shard;
  r.kind = kind;
  r.request_id = next_request_id_.fetch_add(1);
  return r;
}

void PsClientImpl::AddPullPart(const PullArgs& pull, const Part& part,
                               std::vector<uint32_t>& shard_positions,
                               wire::RequestHeader* header, ShardRequest* r) const {
  const size_t count = part.end - part.begin;
  header->set_create_missing(pull.create_missing);
  header->set_want_counts(pull.counts != nullptr);
  // The reply is scattered after the call returns, so the request keeps
  // its positions: the shard's whole list when the part is all of it.
  if (count == shard_positions.size()) {
    r->positions = std::move(shard_positions);
  } else if (!shard_positions.empty()) {
    r->positions.assign(shard_positions.begin() + part.begin, shard_positions.begin() + part.end);
  }
  r->offset = r->positions.empty() ? part.begin : 0;
  r->frames.push_back(GatherFrame(pull.keys + r->offset, kKeyBytes, count,
                                  r->positions.empty() ? nullptr : r->positions.data()));
  r->num_keys = count;
  r->values = pull.values;
  r->counts = pull.counts;
}

void PsClientImpl::AddPushPart(const PushArgs& push, const Part& part,
                               const std::vector<uint32_t>& shard_positions,
                               wire::RequestHeader* header, ShardRequest* r) const {
  const size_t count = part.end - part.begin;
  header->set_num_keys(count);
  header->set_step(push.step);
  header->set_has_occurrences(push.occurrences != nullptr);
  const uint32_t* at = PartPositions(shard_positions, part.begin);
  // With no positions the part is the run of keys starting at part.begin.
  const size_t first = at == nullptr ? part.begin : 0;
  const size_t row_bytes = static_cast<size_t>(options_.dim) * kValueBytes;
  r->frames.push_back(GatherFrame(push.keys + first, kKeyBytes, count, at));
  r->frames.push_back(GatherFrame(reinterpret_cast<const char*>(push.grads) + first * row_bytes,
                                  row_bytes, count, at));
  if (push.occurrences != nullptr) {
    r->frames.push_back(GatherFrame(push.occurrences + first, kOccurrenceBytes, count, at));
  }
}

// The header goes first, serialized once its fields are all set.
void PutHeaderFirst(const wire::RequestHeader& header, ShardRequest* r) {
  r->frames.insert(r->frames.begin(), HeaderFrame(header));
}

Status CheckPushArgs(const PushArgs& push) {
  if (push.n > 0 && (push.keys == nullptr || push.grads == nullptr)) {
    return InvalidArgumentError("Push: null keys or gradients");
  }
  if (push.n > UINT32_MAX) return InvalidArgumentError("Push: too many keys");
  return Status::OK();
}

Status CheckPullArgs(const PullArgs& pull) {
  if (pull.n > 0 && (pull.keys == nullptr || pull.values == nullptr)) {
    return InvalidArgumentError("Pull: null keys or values");
  }
  if (pull.n > UINT32_MAX) return InvalidArgumentError("Pull: too many keys");
  return Status::OK();
}

void PsClientImpl::AddPulls(Ticket ticket, const PullArgs& pull, const std::vector<Part>& parts,
                            std::vector<std::vector<uint32_t>>& positions,
                            std::vector<ShardRequest>* requests) {
  for (const Part& part : parts) {
    ShardRequest r = NewRequest(ticket, part.shard, wire::PULL);
    wire::RequestHeader header = NewHeader(wire::PULL, r.request_id);
    header.set_num_keys(part.end - part.begin);
    AddPullPart(pull, part, positions[part.shard], &header, &r);
    PutHeaderFirst(header, &r);
    requests->push_back(std::move(r));
  }
}

void PsClientImpl::AddPushes(Ticket ticket, const PushArgs& push, const std::vector<Part>& parts,
                             const std::vector<std::vector<uint32_t>>& positions,
                             std::vector<ShardRequest>* requests) {
  for (const Part& part : parts) {
    ShardRequest r = NewRequest(ticket, part.shard, wire::PUSH);
    wire::RequestHeader header = NewHeader(wire::PUSH, r.request_id);
    AddPushPart(push, part, positions[part.shard], &header, &r);
    PutHeaderFirst(header, &r);
    requests->push_back(std::move(r));
  }
}

Ticket PsClientImpl::Pull(const uint64_t* keys, size_t n, bool create_missing, float* values,
                          uint64_t* counts) {
  const PullArgs pull{keys, n, create_missing, values, counts};
  const Status valid = CheckPullArgs(pull);
  if (!valid.ok()) return tickets_.OpenFailed(valid);
  std::vector<size_t> sizes;
  std::vector<std::vector<uint32_t>> positions = Split(keys, n, &sizes);
  const std::vector<Part> parts = Parts(sizes);
  const Ticket ticket = tickets_.Open(static_cast<int>(parts.size()));
  std::vector<ShardRequest> requests;
  AddPulls(ticket, pull, parts, positions, &requests);
  io_.Submit(std::move(requests));
  return ticket;
}

Ticket PsClientImpl::Push(const uint64_t* keys, size_t n, const float* grads,
                          const uint32_t* occurrences, int64_t step) {
  const PushArgs push{keys, n, grads, occurrences, step};
  const Status valid = CheckPushArgs(push);
  if (!valid.ok()) return tickets_.OpenFailed(valid);
  std::vector<size_t> sizes;
  const std::vector<std::vector<uint32_t>> positions = Split(keys, n, &sizes);
  const std::vector<Part> parts = Parts(sizes);
  const Ticket ticket = tickets_.Open(static_cast<int>(parts.size()));
  std::vector<ShardRequest> requests;
  AddPushes(ticket, push, parts, positions, &requests);
  io_.Submit(std::move(requests));
  return ticket;
}

PushPullTickets PsClientImpl::PushThenPull(const PushArgs& push, const PullArgs& pull) {
  const Status push_valid = CheckPushArgs(push);
  const Status pull_valid = CheckPullArgs(pull);
  if (!push_valid.ok() || !pull_valid.ok()) {
    const Status& error = push_valid.ok() ? pull_valid : push_valid;
    return {tickets_.OpenFailed(error), tickets_.OpenFailed(error)};
  }
  std::vector<size_t> push_sizes, pull_sizes;
  const std::vector<std::vector<uint32_t>> push_positions = Split(push.keys, push.n, &push_sizes);
  std::vector<std::vector<uint32_t>> pull_positions = Split(pull.keys, pull.n, &pull_sizes);
  // Shards with keys of both get one whole request each; the others'
  // shares go out as Push and Pull send them.
  std::vector<int> both;
  std::vector<size_t> push_only = push_sizes, pull_only = pull_sizes;
  for (int s = 0; s < num_shards(); ++s) {
    if (push_sizes[s] == 0 || pull_sizes[s] == 0) continue;
    both.push_back(s);
    push_only[s] = pull_only[s] = 0;
  }
  const std::vector<Part> push_parts = Parts(push_only);
  const std::vector<Part> pull_parts = Parts(pull_only);
  const int combined = static_cast<int>(both.size());
  const PushPullTickets tickets{
      tickets_.Open(combined + static_cast<int>(push_parts.size())),
      tickets_.Open(combined + static_cast<int>(pull_parts.size()))};
  std::vector<ShardRequest> requests;
  for (int s : both) {
    ShardRequest r = NewRequest(tickets.pull, s, wire::PUSH_PULL);
    r.push_ticket = tickets.push;
    wire::RequestHeader header = NewHeader(wire::PUSH_PULL, r.request_id);
    AddPushPart(push, Part{s, 0, push_sizes[s]}, push_positions[s], &header, &r);
    header.set_num_pull_keys(pull_sizes[s]);
    AddPullPart(pull, Part{s, 0, pull_sizes[s]}, pull_positions[s], &header, &r);
    PutHeaderFirst(header, &r);
    requests.push_back(std::move(r));
  }
  AddPushes(tickets.push, push, push_parts, push_positions, &requests);
  AddPulls(tickets.pull, pull, pull_parts, pull_positions, &requests);
  io_.Submit(std::move(requests));
  return tickets;
}

Status PsClientImpl::Control(int shard, wire::RequestKind kind, ShardStats* stats) {
  if (shard < 0 || shard >= num_shards()) {
    return InvalidArgumentError("no shard " + std::to_string(shard));
  }
  const Ticket ticket = tickets_.Open(1);
  ShardRequest r = NewRequest(ticket, shard, kind);
  r.frames.push_back(HeaderFrame(NewHeader(kind, r.request_id)));
  r.stats = stats;
  std::vector<ShardRequest> requests;
  requests.push_back(std::move(r));
  io_.Submit(std::move(requests));
  return tickets_.Wait(ticket);
}

StatusOr<ShardStats> PsClientImpl::Stats(int shard) {
  ShardStats stats;
  RETURN_IF_ERROR(Control(shard, wire::STATS, &stats));
  return stats;
}

Status PsClientImpl::Barrier() { return Control(0, wire::BARRIER, nullptr); }

Status PsClientImpl::Shutdown() {
  // All shards at once, so a job's servers stop together.
  const Ticket ticket = tickets_.Open(num_shards());
  std::vector<ShardRequest> requests;
  for (int s = 0; s < num_shards(); ++s) {
    ShardRequest r = NewRequest(ticket, s, wire::SHUTDOWN);
    r.frames.push_back(HeaderFrame(NewHeader(wire::SHUTDOWN, r.request_id)));
    requests.push_back(std::move(r));
  }
  io_.Submit(std::move(requests));
  return tickets_.Wait(ticket);
}

StatusOr<std::vector<ShardCheckpointReply>> PsClientImpl::Checkpoint(const std::string& name,
                                                                    int64_t since_step,
                                                                    int64_t timeout_ms) {
  if (timeout_ms <= 0) return InvalidArgumentError("checkpoint timeout must be > 0");
  std::vector<ShardCheckpointReply> files(num_shards());
  const Ticket ticket = tickets_.Open(num_shards());
  std::vector<ShardRequest> requests;
  for (int s = 0; s < num_shards(); ++s) {
    ShardRequest r = NewRequest(ticket, s, wire::CHECKPOINT);
    wire::RequestHeader header = NewHeader(wire::CHECKPOINT, r.request_id);
    header.set_checkpoint_name(name);
    header.set_since_step(since_step);
    r.frames.push_back(HeaderFrame(header));
    r.shard_file = &files[s];
    r.timeout_ms = timeout_ms;
    requests.push_back(std::move(r));
  }
  io_.Submit(std::move(requests));
  RETURN_IF_ERROR(tickets_.Wait(ticket));
  return files;
}

}  // namespace

Status ValidatePsClientOptions(const PsClientOptions& options) {
  if (options.server_endpoints.empty()) return InvalidArgumentError("no server endpoints");
  if (options.dim < 1 || options.dim > 65536) {
    return InvalidArgumentError("dim must be in [1, 65536]");
  }
  if (options.request_timeout_ms <= 0) {
    return InvalidArgumentError("request_timeout_ms must be > 0");
  }
  if (options.partitioner != nullptr &&
      options.partitioner->num_shards() != static_cast<int>(options.server_endpoints.size())) {
    return InvalidArgumentError("partitioner has " +
                                std::to_string(options.partitioner->num_shards()) +
                                " shards but there are " +
                                std::to_string(options.server_endpoints.size()) + " endpoints");
  }
  for (const std::string& endpoint : options.server_endpoints) {
    if (!IsLocalEndpoint(endpoint)) continue;
    if (options.disable_curve) {
      return InvalidArgumentError("Unix socket endpoint " + endpoint +
                                  " with disable_curve: servers admit local clients only "
                                  "with the job's password");
    }
    if (!ValidLocalPassword(options.local_password)) {
      return InvalidArgumentError("Unix socket endpoint " + endpoint +
                                  " needs a local_password of 32 to 255 characters");
    }
  }
  if (options.disable_curve) return Status::OK();
  RETURN_IF_ERROR(ValidateKey(options.server_public_key, "server public key"));
  RETURN_IF_ERROR(ValidateKey(options.client_public_key, "client public key"));
  RETURN_IF_ERROR(ValidateKey(options.client_secret_key, "client secret key"));
  return Status::OK();
}

StatusOr<std::unique_ptr<PsClient>> PsClient::Create(const PsClientOptions& options) {
  RETURN_IF_ERROR(ValidatePsClientOptions(options));
  auto client = std::make_unique<PsClientImpl>(options);
  RETURN_IF_ERROR(client->Start());
  return std::unique_ptr<PsClient>(std::move(client));
}

}  // namespace dips
